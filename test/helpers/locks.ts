import type { Pool } from 'pg';

/**
 * How many sessions of this database wait for a lock on `table`: what a test holding a lock
 * waits for before it acts. Counted in this database only: test databases are clones of one
 * template, so their tables share OIDs, and another database's waits would count too.
 */
export async function lockWaitersOn(pool: Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from pg_locks
     where not granted and relation = $1::regclass and database = (select oid from pg_database where datname = current_database())`, [table]);
  return rows[0]!.n;
}
