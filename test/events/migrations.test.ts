import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, MigrationError, migrateToLatest } from '../../src/infra/migrate.js';
import { checkpointSettledEvents } from '../../src/events/checkpoints.js';
import { EventStore } from '../../src/events/store.js';
import { verifyChain } from '../../src/events/verify-chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { testCatalog, testMetadata } from '../helpers/events.js';

/**
 * For the calling describe block: a migrated database and a private copy of the migrations, so a
 * test can edit and add files; as deep in the project as db/migrations, so a migration's imports
 * of the project's code (0029's chain) still resolve.
 */
function useMigrationsCopy(): { db: TestDatabase; dir: string } {
  const ctx = {} as { db: TestDatabase; dir: string };
  beforeAll(async () => {
    ctx.db = await createTestDatabase();
    ctx.dir = mkdtempSync(join(MIGRATIONS_DIR, '..', '.migrations-'));
    cpSync(MIGRATIONS_DIR, ctx.dir, { recursive: true });
  });
  afterAll(async () => {
    await ctx.db?.drop();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });
  return ctx;
}

describe('migrations', () => {
  const ctx = useMigrationsCopy();

  it('re-running on a migrated database is a no-op', async () => {
    expect(await migrateToLatest(ctx.db.db, ctx.dir)).toEqual([]);
  });

  it('refuses a migration edited after it was applied', async () => {
    const first = join(ctx.dir, '0001_event_store.ts');
    const original = readFileSync(first, 'utf8');
    writeFileSync(first, `${original}\n// edited\n`);
    await expect(migrateToLatest(ctx.db.db, ctx.dir)).rejects.toThrow(MigrationError);
    await expect(migrateToLatest(ctx.db.db, ctx.dir)).rejects.toThrow(/0001_event_store was edited/);
    writeFileSync(first, original);
  });

  it('refuses a new migration ordered before applied ones', async () => {
    writeFileSync(join(ctx.dir, '0000_sneaky.ts'), `export async function up() {}\n`);
    await expect(migrateToLatest(ctx.db.db, ctx.dir)).rejects.toThrow(/0000_sneaky/);
  });
});

/** Migration 0029 gives the events stored before it their chain, so verify covers the whole store. */
describe('migration 0029 (event hash chain) on a store with events', () => {
  const ctx = useMigrationsCopy();

  it('backfills the chain of existing events, which later appends continue', async () => {
    // Back to the schema before 0029 (the later migrations undone first, newest first), with
    // events written as the store then wrote them: positions of the transaction's xid, no offset yet.
    const after = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.ts') && f >= '0029').sort().reverse();
    for (const file of after) {
      const migration = await import(pathToFileURL(join(MIGRATIONS_DIR, file)).href) as { down(db: unknown): Promise<void> };
      await migration.down(ctx.db.db);
      await ctx.db.pool.query('delete from kysely_migration where name = $1', [file.replace(/\.ts$/, '')]);
    }
    for (const [stream, version, by] of [['old-a', 1, 1], ['old-b', 1, 2], ['old-a', 2, 3], ['old-a', 3, 4], ['old-b', 2, 5]] as const) {
      await ctx.db.pool.query(
        `insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata)
         values (pg_current_xact_id()::text::bigint << 16, gen_random_uuid(), $1, 'counter', $2, 'CounterIncremented', 1, $3, $4)`,
        [stream, version, JSON.stringify({ by }), JSON.stringify(testMetadata())]);
    }
    expect(await migrateToLatest(ctx.db.db, ctx.dir)).toEqual(after.reverse().map((f) => f.replace(/\.ts$/, '')));

    expect(await verifyChain(ctx.db.pool)).toMatchObject({ ok: true, events_checked: 5 });
    const store = new EventStore(ctx.db.pool, testCatalog());
    await store.appendToStream({ stream_id: 'old-a', stream_type: 'counter', expected: 3, events: [{ type: 'CounterIncremented', data: { by: 6 } }] }, { metadata: testMetadata() });
    await checkpointSettledEvents(ctx.db.pool);
    expect(await verifyChain(ctx.db.pool)).toMatchObject({ ok: true, events_checked: 6, checkpoints_checked: 1 });
    // Still immutable after the backfill's one rewrite.
    await expect(ctx.db.pool.query(`update events set data = '{"by": 0}' where stream_id = 'old-a'`)).rejects.toThrow(/immutable/);
  });
});
