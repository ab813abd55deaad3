import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations/', import.meta.url));

interface MigrationFile { name: string; checksum: string; migration: Migration }

async function loadMigrations(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.ts$/.test(f)).sort();
  return Promise.all(names.map(async (file) => {
    const path = join(dir, file);
    const source = await readFile(path);
    const migration = (await import(pathToFileURL(path).href)) as Migration;
    return { name: file.replace(/\.ts$/, ''), checksum: createHash('sha256').update(source).digest('hex'), migration };
  }));
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/**
 * Applies pending migrations in order. Kysely refuses out-of-order migrations; on top of it
 * a checksum per applied migration refuses one whose file was edited after it ran (any edit,
 * comments included). All pending migrations run in one transaction, so none can use
 * `create index concurrently`: a new index blocks writes to its table while it is built (the
 * costs per migration: docs/architecture.md, Migrations).
 */
export async function migrateToLatest(db: Kysely<any>, dir = MIGRATIONS_DIR): Promise<string[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const files = await loadMigrations(dir);
  await sql`create table if not exists migration_checksums (name text primary key, checksum text not null)`.execute(db);
  const { rows } = await sql<{ name: string; checksum: string }>`select name, checksum from migration_checksums`.execute(db);
  const known = new Map(files.map((f) => [f.name, f.checksum]));
  for (const applied of rows) {
    const current = known.get(applied.name);
    if (current === undefined) throw new MigrationError(`migration ${applied.name} was applied but its file is gone`);
    if (current !== applied.checksum) throw new MigrationError(`migration ${applied.name} was edited after it was applied`);
  }
  const provider: MigrationProvider = { getMigrations: async () => Object.fromEntries(files.map((f) => [f.name, f.migration])) };
  const migrator = new Migrator({ db, provider, allowUnorderedMigrations: false });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${(error as Error).message ?? String(error)}`);
  }
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  for (const name of applied) {
    await sql`insert into migration_checksums (name, checksum) values (${name}, ${known.get(name)!}) on conflict do nothing`.execute(db);
  }
  return applied;
}
