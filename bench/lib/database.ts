import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase } from '../../src/infra/database.js';
import { migrateToLatest } from '../../src/infra/migrate.js';

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  url: string;
  name: string;
  /** Facts about the server that change what the numbers mean. */
  server: { version: string; synchronous_commit: string; fsync: string; max_connections: number };
  drop(): Promise<void>;
}

/**
 * pg-pool's end() resolves before its backends are gone, so dropping the database right after
 * can terminate a closing client; that error belongs to nobody and must not end the run.
 */
export const ignoreIdleError = (): void => {};

const withDatabase = (url: string, database: string): string => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', ignoreIdleError);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database for one run, migrated with the project's own migrations, so every system
 * starts from empty tables and no run inherits another's bloat.
 */
export async function createBenchDatabase(adminUrl = process.env.BENCH_DATABASE_URL ?? DEFAULT_ADMIN_URL): Promise<BenchDatabase> {
  const name = `tmi_bench_${randomBytes(5).toString('hex')}`;
  const server = await withAdmin(adminUrl, async (admin) => {
    await admin.query(`create database ${name}`);
    const { rows } = await admin.query<{ version: string; synchronous_commit: string; fsync: string; max_connections: string }>(
      `select current_setting('server_version') as version, current_setting('synchronous_commit') as synchronous_commit,
              current_setting('fsync') as fsync, current_setting('max_connections') as max_connections`);
    const r = rows[0]!;
    return { version: r.version, synchronous_commit: r.synchronous_commit, fsync: r.fsync, max_connections: Number(r.max_connections) };
  });
  const url = withDatabase(adminUrl, name);
  const database = openDatabase(url, { max: 2, applicationName: 'tmi-bench-migrate' });
  try {
    await migrateToLatest(database.db);
  } catch (err) {
    await database.close();
    await withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    throw err;
  } finally {
    await database.close();
  }
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    process.off('SIGINT', onInterrupt);
    await withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
  };
  // Ctrl-C skips every finally block; drop the database on the way out instead of leaking it.
  const onInterrupt = () => {
    process.stderr.write(`interrupted; dropping ${name}\n`);
    // Dropping terminates the writers' busy connections; their errors are expected now.
    process.on('uncaughtException', (err) => {
      if ((err as { code?: string }).code !== '57P01') {
        process.stderr.write(`${err.stack ?? String(err)}\n`);
        process.exit(1);
      }
    });
    drop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  return { url, name, server, drop };
}

/**
 * A database kept between runs under `name` (which the caller derives from everything that
 * shapes its contents), built once by `build` on a migrated database. It is built as
 * `<name>_building` and renamed when complete, so an interrupted build is never reused.
 * `reseed` drops it and builds it again. It is never dropped at the end of a run.
 */
export async function cachedBenchDatabase(
  name: string,
  build: (url: string) => Promise<void>,
  options: { reseed: boolean; log: (line: string) => void; adminUrl?: string },
): Promise<{ url: string; name: string; server: BenchDatabase['server']; built: boolean; build_seconds: number | null }> {
  const adminUrl = options.adminUrl ?? process.env.BENCH_DATABASE_URL ?? DEFAULT_ADMIN_URL;
  const building = `${name}_building`;
  const exists = await withAdmin(adminUrl, async (admin) => {
    if (options.reseed) await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`drop database if exists ${building} with (force)`);
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    return rowCount === 1;
  });
  let buildSeconds: number | null = null;
  if (!exists) {
    options.log(`building ${name} (kept for later runs; --reseed rebuilds it)`);
    await withAdmin(adminUrl, (admin) => admin.query(`create database ${building}`));
    const onInterrupt = () => {
      process.stderr.write(`interrupted; dropping ${building}\n`);
      withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${building} with (force)`)).finally(() => process.exit(130));
    };
    process.once('SIGINT', onInterrupt);
    const t0 = performance.now();
    try {
      const url = withDatabase(adminUrl, building);
      const database = openDatabase(url, { max: 2, applicationName: 'tmi-bench-migrate' });
      try {
        await migrateToLatest(database.db);
      } finally {
        await database.close();
      }
      await build(url);
      await withAdmin(adminUrl, (admin) => admin.query(`alter database ${building} rename to ${name}`));
    } catch (err) {
      await withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${building} with (force)`)).catch(() => {});
      throw err;
    } finally {
      process.off('SIGINT', onInterrupt);
    }
    buildSeconds = (performance.now() - t0) / 1000;
  } else {
    options.log(`reusing ${name} (--reseed rebuilds it)`);
  }
  const server = await withAdmin(adminUrl, async (admin) => {
    const { rows } = await admin.query<{ version: string; synchronous_commit: string; fsync: string; max_connections: string }>(
      `select current_setting('server_version') as version, current_setting('synchronous_commit') as synchronous_commit,
              current_setting('fsync') as fsync, current_setting('max_connections') as max_connections`);
    const r = rows[0]!;
    return { version: r.version, synchronous_commit: r.synchronous_commit, fsync: r.fsync, max_connections: Number(r.max_connections) };
  });
  return { url: withDatabase(adminUrl, name), name, server, built: !exists, build_seconds: buildSeconds };
}
