import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, MigrationError, migrateToLatest } from '../../src/infra/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('migrations', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    // A private copy of the migrations so the test can edit and add files.
    dir = mkdtempSync(join(tmpdir(), 'tmi-migrations-'));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('re-running on a migrated database is a no-op', async () => {
    expect(await migrateToLatest(db.db, dir)).toEqual([]);
  });

  it('refuses a migration edited after it was applied', async () => {
    const first = join(dir, '0001_event_store.ts');
    const original = readFileSync(first, 'utf8');
    writeFileSync(first, `${original}\n// edited\n`);
    await expect(migrateToLatest(db.db, dir)).rejects.toThrow(MigrationError);
    await expect(migrateToLatest(db.db, dir)).rejects.toThrow(/0001_event_store was edited/);
    writeFileSync(first, original);
  });

  it('refuses a new migration ordered before applied ones', async () => {
    writeFileSync(join(dir, '0000_sneaky.ts'), `export async function up() {}\n`);
    await expect(migrateToLatest(db.db, dir)).rejects.toThrow(/0000_sneaky/);
  });
});
