import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { ignoreIdleError } from '../lib/database.js';
import { BENCH_EVENT_TYPE, BENCH_METADATA, BENCH_STREAM_TYPE, applicationName, benchEventData, type SystemUnderTest } from './workload.js';

const COLUMNS = ['event_id', 'stream_id', 'stream_type', 'version', 'type', 'schema_version', 'data', 'metadata', 'hash'];

const insertSql = (rows: number): string => {
  const values = Array.from({ length: rows }, (_, r) =>
    `(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`);
  return `insert into raw_events (${COLUMNS.join(', ')}) values ${values.join(', ')}`;
};

/**
 * The physical limit: a plain INSERT into a table shaped like `events` (same columns, same
 * unique and secondary indexes; positions from a sequence), one autocommit statement per
 * commit, no checks. A batch of 10 is one 10-row INSERT. The rows are as wide as the store's: the
 * 32-byte hash column is filled with random bytes, not chained.
 */
export const rawInsert: SystemUnderTest = {
  tag: 'raw',
  name: 'raw INSERT',
  async setup(url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('create table raw_events (like events including defaults including constraints including indexes)');
      await client.query('create sequence raw_events_position_seq owned by raw_events.position');
      await client.query(`alter table raw_events alter column position set default nextval('raw_events_position_seq')`);
    } finally {
      await client.end();
    }
  },
  async open(url, workload, writers, streams) {
    const pool = new pg.Pool({ connectionString: url, max: writers, application_name: applicationName(rawInsert) });
    pool.on('error', ignoreIdleError);
    // One dedicated connection per writer, as the brief for the physical limit says.
    const clients = await Promise.all(Array.from({ length: writers }, () => pool.connect()));
    for (const c of clients) c.on('error', ignoreIdleError);
    const statement = { name: `raw_insert_${workload.batch}`, text: insertSql(workload.batch) };
    const metadata = JSON.stringify(BENCH_METADATA);
    return {
      async op(w) {
        const { stream_id, expected, seq } = streams.next(w);
        const values: unknown[] = [];
        for (let i = 0; i < workload.batch; i++) {
          values.push(uuidv7(), stream_id, BENCH_STREAM_TYPE, expected + i + 1, BENCH_EVENT_TYPE, 1,
            JSON.stringify(benchEventData(seq * workload.batch + i)), metadata, randomBytes(32));
        }
        await clients[w]!.query({ ...statement, values });
        streams.committed(w, workload.batch);
        return workload.batch;
      },
      async close() {
        for (const c of clients) c.release();
        await pool.end();
      },
    };
  },
};
