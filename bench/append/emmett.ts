import type { Event } from '@event-driven-io/emmett';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import { ignoreIdleError } from '../lib/database.js';
import { BENCH_EVENT_TYPE, BENCH_METADATA, applicationName, benchEventData, type BenchEventData, type SystemUnderTest } from './workload.js';

type BenchEvent = Event<typeof BENCH_EVENT_TYPE, BenchEventData, Record<string, unknown>>;
const metadata: Record<string, unknown> = { ...BENCH_METADATA };

/**
 * The peer: @event-driven-io/emmett-postgresql appendToStream on a pool of `writers`
 * connections. Its schema is created once per run, before any timing. Emmett sets pg's global
 * int8/jsonb parsers when its pool is built; the other systems only read back int8 positions,
 * which they convert with Number() either way.
 */
export const emmett: SystemUnderTest = {
  tag: 'emmett',
  name: 'emmett',
  async setup(url) {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', ignoreIdleError);
    const store = getPostgreSQLEventStore(url, { connectionOptions: { pool } });
    try {
      await store.schema.migrate();
    } finally {
      await store.close();
      await pool.end();
    }
  },
  async open(url, workload, writers, streams) {
    const pool = new pg.Pool({ connectionString: url, max: writers, application_name: applicationName(emmett) });
    pool.on('error', ignoreIdleError);
    await Promise.all(Array.from({ length: writers }, () => pool.connect())).then((cs) => cs.forEach((c) => c.release()));
    // Migrations ran in setup; do not let every cell re-check them.
    const store = getPostgreSQLEventStore(url, { connectionOptions: { pool }, schema: { autoMigration: 'None' } });
    return {
      async op(w) {
        const { stream_id, expected, seq } = streams.next(w);
        const events = Array.from({ length: workload.batch }, (_, i): BenchEvent => ({
          type: BENCH_EVENT_TYPE,
          data: benchEventData(seq * workload.batch + i),
          metadata,
        }));
        await store.appendToStream(stream_id, events, {
          expectedStreamVersion: expected === 0 ? 'STREAM_DOES_NOT_EXIST' : BigInt(expected),
        });
        streams.committed(w, workload.batch);
        return workload.batch;
      },
      async close() {
        await store.close();
        await pool.end();
      },
    };
  },
};
