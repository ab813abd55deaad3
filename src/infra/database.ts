import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';

// bigint columns (positions, counts) come back as numbers; positions stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint ${v} exceeds the safe integer range`);
  return n;
});

export interface Database {
  pool: pg.Pool;
  /** Statements sent through the pool so far (not those of clients checked out for a transaction): lets tests see N+1 reads. */
  statements(): number;
  db: Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- read tables are typed per module
  close(): Promise<void>;
}

export function openDatabase(url: string, options: { max?: number; applicationName?: string } = {}): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'tmi-es',
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    // An open write transaction holds back the global-order horizon for every reader
    // (src/events/position.ts); a forgotten one must not stall projections for long.
    idle_in_transaction_session_timeout: 30000,
  });
  // A dropped connection must not crash the process; the next query reports the error.
  pool.on('error', () => {});
  // The pool listens only to its idle clients: one checked out (a transaction, a held advisory
  // lock) whose server goes away between two queries emits 'error' with no listener, which ends
  // the process. Its next query fails instead, and the pool discards it on release.
  pool.on('connect', (client) => { client.on('error', () => {}); });
  let statements = 0;
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    statements++;
    return query(...args);
  }) as typeof pool.query;
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) }); // eslint-disable-line @typescript-eslint/no-explicit-any
  let closed = false;
  return {
    pool,
    db,
    statements: () => statements,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
      // Kysely ends the pool only if it ever ran a query itself.
      if (!pool.ended) await pool.end();
    },
  };
}

/** Runs fn in a transaction on one pooled client, begun with `begin` (another isolation level, read only). */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, begin = 'begin'): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
