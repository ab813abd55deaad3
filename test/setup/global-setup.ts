import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { Kysely, PostgresDialect } from 'kysely';
import { MIGRATIONS_DIR, migrateToLatest } from '../../src/infra/migrate.js';
import { findTestServices } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    templateDatabase: string;
    redisUrl: string;
  }
}

export const withDatabase = (url: string, database: string): string => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/** A migrated template database named after the migrations' contents; each test file clones it. */
async function ensureTemplate(adminUrl: string): Promise<string> {
  const hash = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_DIR).sort()) hash.update(f).update(readFileSync(join(MIGRATIONS_DIR, f)));
  const name = `tmi_template_${hash.digest('hex').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('select pg_advisory_lock(7355608)');
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) {
      const building = `${name}_building`;
      await admin.query(`drop database if exists ${building}`);
      await admin.query(`create database ${building}`);
      const pool = new pg.Pool({ connectionString: withDatabase(adminUrl, building), max: 2 });
      const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
      try {
        await migrateToLatest(db);
      } finally {
        await db.destroy();
      }
      await admin.query(`alter database ${building} rename to ${name}`);
    }
    // Drop databases left behind by earlier runs that were killed: idle, and created hours ago
    // (the name says when). An idle database of a run going on beside this one — created, not
    // yet connected to, or between two connections — must be left alone.
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname ~ '^tmi_test_[0-9a-z]+_[0-9a-f]+$' and not exists (select 1 from pg_stat_activity a where a.datname = pg_database.datname)`);
    const abandonedBefore = Date.now() / 1000 - ABANDONED_AFTER_SECONDS;
    for (const r of rows) {
      if (parseInt(r.datname.split('_')[2]!, 36) < abandonedBefore) await admin.query(`drop database if exists "${r.datname}"`).catch(() => {});
    }
    await admin.query('select pg_advisory_unlock(7355608)');
  } finally {
    await admin.end();
  }
  return name;
}

/** A test database idle and older than this is one a killed run left. */
const ABANDONED_AFTER_SECONDS = 6 * 3600;

export default async function setup(project: TestProject) {
  const services = await findTestServices();
  const template = await ensureTemplate(services.postgresUrl);
  project.provide('postgresAdminUrl', services.postgresUrl);
  project.provide('templateDatabase', template);
  project.provide('redisUrl', services.redisUrl);
  return async () => {
    await services.stop();
  };
}
