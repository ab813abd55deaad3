import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AccessTokenRevocations, REVOCATION_LISTENER_NAME, RevocationSet } from '../../src/auth/revocations.js';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/infra/embedded-postgres.js';
import { migrateToLatest } from '../../src/infra/migrate.js';
import { needsInitdb } from '../helpers/binaries.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { testMetadata } from '../helpers/events.js';
import { freePort } from '../helpers/ports.js';

const log = pino({ level: 'silent' });
const now = () => Math.floor(Date.now() / 1000);
// A listener that can never connect: only the poll of the events table feeds the set.
const UNREACHABLE = 'postgres://postgres@127.0.0.1:1/none';

const revokeToken = (store: EventStore, userId: string, jti: string, expiresAt: number) =>
  store.appendToStream({ stream_id: `user-${userId}`, stream_type: 'user', expected: 'any', events: [{ type: 'AccessTokenRevoked', data: { jti, expires_at: expiresAt, reason: 'logout' } }] }, { metadata: testMetadata() });
const deleteUser = (store: EventStore, userId: string) =>
  store.appendToStream({ stream_id: `user-${userId}`, stream_type: 'user', expected: 'any', events: [{ type: 'UserDeleted', data: { reason: 'test' } }] }, { metadata: testMetadata() });

describe('RevocationSet', () => {
  it('refuses a revoked token id and every token of a deleted user; drops entries once their tokens have expired', () => {
    const set = new RevocationSet();
    const t = 1_000_000;
    set.revokeToken('jti-1', t + 60, t);
    set.revokeUser('user-gone', t + 3600, t);
    expect(set.isRevoked('jti-1', 'someone')).toBe(true);
    expect(set.isRevoked('jti-2', 'user-gone')).toBe(true);
    expect(set.isRevoked('jti-2', 'someone')).toBe(false);
    // A revocation of a token that has long expired is not kept at all.
    set.revokeToken('jti-old', t - 3600, t);
    expect(set.isRevoked('jti-old', 'someone')).toBe(false);
    expect(set.size).toBe(2);
    // Kept a little past expiry (the verifier's clock tolerance), then swept.
    expect(set.sweep(t + 61)).toBe(2);
    expect(set.sweep(t + 60 + 31)).toBe(1);
    expect(set.isRevoked('jti-1', 'someone')).toBe(false);
    expect(set.sweep(t + 3600 + 31)).toBe(0);
  });
});

describe('AccessTokenRevocations fed from PostgreSQL', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    store = new EventStore(db.pool, eventCatalog);
  });
  afterAll(async () => { await db?.drop(); });

  const feed = (databaseUrl = UNREACHABLE, pool = db.pool) =>
    new AccessTokenRevocations(pool, databaseUrl, eventCatalog, { pollIntervalMs: 100, log });

  it('loads at start-up the revocations still in force, and only those', async () => {
    const live = randomUUID();
    const expired = randomUUID();
    const deleted = randomUUID();
    await revokeToken(store, randomUUID(), live, now() + 600);
    await revokeToken(store, randomUUID(), expired, now() - 600);
    await deleteUser(store, deleted);
    const revocations = feed();
    await revocations.start();
    try {
      expect(revocations.isRevoked(live, randomUUID())).toBe(true);
      expect(revocations.isRevoked(randomUUID(), deleted)).toBe(true);
      expect(revocations.isRevoked(expired, randomUUID())).toBe(false);
      expect(revocations.isRevoked(randomUUID(), randomUUID())).toBe(false);
    } finally {
      await revocations.stop();
    }
  });

  it('stopped while it is still starting, it leaves no listener, no poll timer and no late error', async () => {
    // Each stop comes at another point of the start: before the listener connects, while it
    // connects, during the start-up read. The pool is closed right after, as a shutdown does.
    for (const delayMs of [0, 1, 5, 20, 50]) {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      try {
        const pool = new pg.Pool({ connectionString: db.url, max: 2 });
        const revocations = new AccessTokenRevocations(pool, db.url, eventCatalog, { pollIntervalMs: 100, log });
        const starting = revocations.start();
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        await revocations.stop();
        await pool.end();
        await expect(starting).resolves.toBeUndefined();
        expect(vi.getTimerCount()).toBe(0);
      } finally {
        vi.useRealTimers();
      }
    }
    await eventually('no revocation listener is left in the database', async () => (await db.pool.query(
      'select 1 from pg_stat_activity where datname = current_database() and application_name = $1', [REVOCATION_LISTENER_NAME])).rowCount === 0);
  });

  it('hears a revocation through NOTIFY, with a poll slow enough not to be the one that found it', async () => {
    const revocations = new AccessTokenRevocations(db.pool, db.url, eventCatalog, { pollIntervalMs: 60_000, log });
    await revocations.start();
    try {
      const jti = randomUUID();
      await revokeToken(store, randomUUID(), jti, now() + 600);
      await eventually('the notification arrives', () => revocations.isRevoked(jti, randomUUID()));
    } finally {
      await revocations.stop();
    }
  });
});

const initdb = await needsInitdb();

describe.skipIf(initdb.skip)(initdb.title('AccessTokenRevocations on a PostgreSQL of the test\'s own: a held horizon, an outage'), () => {
  let dir: string;
  let port: number;
  let server: EmbeddedDatabase;
  let pool: pg.Pool;
  const start = async () => { server = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port, log }); };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tmi-revocations-'));
    // As root, initdb runs as an unprivileged user that must be able to enter the folder.
    chmodSync(dir, 0o755);
    port = await freePort();
    await start();
    pool = new pg.Pool({ connectionString: server.url, max: 4, connectionTimeoutMillis: 2000 });
    pool.on('error', () => {});
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: server.url, max: 1 }) }) });
    await migrateToLatest(db);
    await db.destroy();
  }, 120_000);
  afterAll(async () => {
    await pool?.end().catch(() => {});
    await server?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('without notifications, the poll learns of a revocation, even while an open transaction holds the horizon back', async () => {
    const store = new EventStore(pool, eventCatalog);
    const revocations = new AccessTokenRevocations(pool, UNREACHABLE, eventCatalog, { pollIntervalMs: 100, log });
    await revocations.start();
    const holder = new pg.Client({ connectionString: server.url });
    await holder.connect();
    try {
      // An open transaction with an id: positions above it are not settled until it ends. (On this
      // test's own PostgreSQL: the horizon is cluster-wide, and holding it on the shared one would stall other tests.)
      await holder.query('begin');
      await holder.query('select pg_current_xact_id()');
      const jti = randomUUID();
      const gone = randomUUID();
      await revokeToken(store, randomUUID(), jti, now() + 600);
      await deleteUser(store, gone);
      await eventually('the poll sees the revocation', () => revocations.isRevoked(jti, randomUUID()));
      await eventually('the poll sees the deletion', () => revocations.isRevoked(randomUUID(), gone));
      await holder.query('rollback');
      // Once the horizon moves on, the revocations are still there (re-reading them is harmless).
      const later = randomUUID();
      await revokeToken(store, randomUUID(), later, now() + 600);
      await eventually('the poll sees a later revocation', () => revocations.isRevoked(later, randomUUID()));
      expect(revocations.isRevoked(jti, randomUUID())).toBe(true);
    } finally {
      await holder.end();
      await revocations.stop();
    }
  });

  it('keeps answering from memory while PostgreSQL is down, and catches up when it is back', async () => {
    const store = new EventStore(pool, eventCatalog);
    const revocations = new AccessTokenRevocations(pool, server.url, eventCatalog, { pollIntervalMs: 100, log });
    const before = randomUUID();
    await revokeToken(store, randomUUID(), before, now() + 600);
    await revocations.start();
    try {
      expect(revocations.isRevoked(before, randomUUID())).toBe(true);

      await server.stop();
      // No I/O per check: known revocations hold, every other token is still accepted.
      await new Promise((r) => setTimeout(r, 300));
      expect(revocations.isRevoked(before, randomUUID())).toBe(true);
      expect(revocations.isRevoked(randomUUID(), randomUUID())).toBe(false);

      await start();
      const after = randomUUID();
      await eventually('the store can append again', async () => {
        try {
          await revokeToken(store, randomUUID(), after, now() + 600);
          return true;
        } catch {
          return false;
        }
      });
      await eventually('the revocation made after the restart is heard', () => revocations.isRevoked(after, randomUUID()));
      expect(revocations.isRevoked(before, randomUUID())).toBe(true);
    } finally {
      await revocations.stop();
    }
  });
});
