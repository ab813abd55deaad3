import type { Pool, PoolClient } from 'pg';
import { createHash } from 'node:crypto';
import type { EventStore } from '../events/store.js';
import { DECLARE_NON_APPENDING_EXPRESSION } from '../events/position.js';
import { withTransaction } from '../infra/database.js';
import type { StoredEvent } from '../events/types.js';
import type { Projection } from './projection.js';
import { foldInOnePass, type BulkFold } from './bulk.js';
import { copyRows } from './copy-rows.js';
import { applyOne, NOTIFY_PROGRESS_SQL, PoisonEvent, projectionLockKey } from './runner.js';
import {
  analyzeTables, copyGrants, createShadowIndexes, createShadowTables, ident, recordedShape, RETIRED_CHECKPOINT, RETIRED_DEAD_LETTERS, retiredSchemaOf,
  retiredSchemas, schemaExists, shadowShape, SHADOW_DEAD_LETTERS, shadowSchemaOf, ShadowUnsupportedError, STATE_TABLE, tablesOf, unsupportedShapes,
} from './shadow-schema.js';
import { tableDigest } from './table-digest.js';

/**
 * How long the swap waits for a table's lock. While its ALTER waits, every later reader of that
 * table queues behind it, so the wait is kept short and the swap tried again instead.
 */
const SWAP_LOCK_TIMEOUT_MS = 500;
const SWAP_ATTEMPTS = 20;
const LOCK_NOT_AVAILABLE = '55P03';
const INTEGRITY_VIOLATION_CLASS = '23';

/** Events per shadow transaction: much larger than a live batch, since nobody waits on the shadow's progress. */
export const REBUILD_BATCH_SIZE = 5_000;

export interface RebuildProgress {
  projection: string;
  /** Events of its types applied to the shadow so far (of `total`, counted when the build began). */
  applied: number;
  total: number;
  position: number;
}

export interface RebuildOptions {
  batchSize?: number;
  onProgress?: (progress: RebuildProgress) => void;
  /** Checked between batches: an aborted build stops where it is and resumes on the next run. */
  signal?: AbortSignal;
  /** Whether a fresh shadow of a projection with a bulk fold is built in bulk first (default true); false applies every event. */
  bulk?: boolean;
}

/** What the build did: how many events the bulk phase folded (0 when it did not run), or why its fold refused. */
export interface BuildSummary { bulk_applied: number; bulk_refused?: string }

export interface TableComparison {
  table: string;
  /** The shadow's rows, and their digest when there is a live table to compare it with. */
  shadow: { rows: number; digest?: string };
  /** The live version's table at the same position; absent when the live version is another one (nothing to compare to). */
  live?: { rows: number; digest: string };
  /** A few rows only one side has, as text, when they differ. */
  only_in_shadow?: string[];
  only_in_live?: string[];
}

export interface VerifyReport {
  projection: string;
  ok: boolean;
  /** Whether the shadow was compared with the live tables (same version) or only measured. */
  compared: boolean;
  position: number;
  tables: TableComparison[];
  problems: string[];
}

export interface SwapResult {
  projection: string;
  version: number;
  position: number;
  /** Events applied in the swap's own transaction, under the projection's lock. */
  applied_in_swap: number;
  retired: string;
}

export class RebuildRefusedError extends Error {
  constructor(readonly report: VerifyReport) {
    super(`rebuild of ${report.projection} refused: ${report.problems.join('; ')}`);
    this.name = 'RebuildRefusedError';
  }
}

/** Another process holds the rebuild of this projection. */
export class RebuildBusyError extends Error {
  constructor(projection: string) {
    super(`a rebuild of ${projection} is already running elsewhere`);
    this.name = 'RebuildBusyError';
  }
}

/** The live tables belong to a newer version than the code in hand: building an older one over them would be a downgrade. */
export class RebuildSupersededError extends Error {
  constructor(projection: string, live: number, running: number) {
    super(`projection ${projection} is live at version ${live}; this process runs version ${running} and will not rebuild it`);
    this.name = 'RebuildSupersededError';
  }
}

/** The live tables changed shape (a migration) while the shadow was built: nothing swapped; the next prepare builds it anew. */
export class ShadowOutdatedError extends Error {
  constructor(projection: string, schema: string) {
    super(`the live tables of ${projection} changed shape while ${schema} was built; nothing swapped, the next rebuild builds it anew`);
    this.name = 'ShadowOutdatedError';
  }
}

export class NothingToRollBackError extends Error {
  constructor(projection: string) {
    super(`projection ${projection} has no retired version to roll back to`);
    this.name = 'NothingToRollBackError';
  }
}

/**
 * The client the projection's `apply` gets in a shadow batch: its parameterised statements go
 * as named prepared statements (named by their text), so each distinct statement is parsed
 * once per connection instead of once per event (planned each time: see `transaction`).
 * PostgreSQL analyses them again by itself when the search path or a table changes.
 */
function preparing(client: PoolClient): PoolClient {
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let name = names.get(text);
    if (!name) names.set(text, name = `rebuild_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`);
    return name;
  };
  return new Proxy(client, {
    get(target, key, receiver) {
      if (key !== 'query') return Reflect.get(target, key, receiver) as unknown;
      return (text: unknown, values?: unknown[]) =>
        typeof text === 'string' && Array.isArray(values) ? target.query({ name: nameOf(text), text, values }) : target.query(text as string, values);
    },
  });
}

/** Only one builder per projection: a session lock, held by the builder's own connection. */
const rebuildLockKey = (name: string): string => createHash('sha256').update(`projection-rebuild:${name}`).digest().readBigInt64BE(0).toString();

/**
 * Rebuild locks held on one connection of its own: taken and let go one projection at a time,
 * so a build of several can free each projection as soon as it is done with it.
 */
export class RebuildLocks {
  private readonly held = new Set<string>();
  private broken: Error | undefined;

  private constructor(private readonly holder: PoolClient) {}

  static async open(pool: Pool): Promise<RebuildLocks> {
    const holder = await pool.connect();
    try {
      // The holder sits idle for the whole build: a deployment's idle_session_timeout would end its session, and every lock with it, unseen.
      await holder.query("select set_config('idle_session_timeout', '0', false)");
    } catch (err) {
      holder.release(err as Error);
      throw err;
    }
    return new RebuildLocks(holder);
  }

  /**
   * Throws unless the holder's session is still there (its locks end only with it): checked just
   * before a swap, so a session lost during the build (a restart, a terminated backend) swaps
   * nothing another builder may meanwhile be working on.
   */
  async assertHeld(name: string): Promise<void> {
    if (!this.held.has(name)) throw new Error(`the rebuild lock of ${name} is not held`);
    await this.holder.query('select 1').catch((err: Error) => {
      this.broken ??= err;
      throw new Error(`the connection holding the rebuild lock of ${name} was lost (${err.message}); nothing swapped`);
    });
  }

  /** True when this holder now has the projection's lock; false when another process holds it. */
  async tryLock(name: string): Promise<boolean> {
    const { rows } = await this.holder.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [rebuildLockKey(name)]);
    if (rows[0]!.ok) this.held.add(name);
    return rows[0]!.ok;
  }

  async unlock(name: string): Promise<void> {
    if (!this.held.delete(name)) return;
    await this.holder.query('select pg_advisory_unlock($1)', [rebuildLockKey(name)]).catch((err: Error) => { this.broken ??= err; });
  }

  /** Lets every lock still held go; a connection that could not unlock is closed, which ends its session and every lock it held. */
  async close(): Promise<void> {
    for (const name of [...this.held]) await this.unlock(name);
    this.holder.release(this.broken);
  }
}

/**
 * Runs `fn` holding the rebuild locks of every projection named, on one connection of its own;
 * RebuildBusyError when another process holds one of them (none is then kept).
 */
export async function withRebuildLocks<T>(pool: Pool, names: readonly string[], fn: (locks: RebuildLocks) => Promise<T>): Promise<T> {
  const locks = await RebuildLocks.open(pool);
  try {
    for (const name of names) if (!await locks.tryLock(name)) throw new RebuildBusyError(name);
    return await fn(locks);
  } finally {
    await locks.close();
  }
}

/** A swap or rollback did not get the locks it needs within its bounded waits; nothing was changed. */
export class LocksBusyError extends Error {
  constructor(projection: string, what: 'swap' | 'rollback', held: string) {
    super(`the ${what} of ${projection} gave up waiting: ${held}; nothing changed, try again`);
    this.name = 'LocksBusyError';
  }
}

/**
 * Runs a transaction that ALTERs a projection's tables again while a table lock was not granted
 * within SWAP_LOCK_TIMEOUT_MS (set by `fn` with `lockTablesBriefly`): while an ALTER waits, every
 * later reader of that table queues behind it, so the wait is kept short and tried again.
 */
async function retryingTableLocks<T>(projection: string, what: 'swap' | 'rollback', fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      if (attempt >= SWAP_ATTEMPTS) throw new LocksBusyError(projection, what, `readers held its tables through ${SWAP_ATTEMPTS} tries of ${SWAP_LOCK_TIMEOUT_MS} ms`);
    }
  }
}

/** Bounds the waits for table locks that follow, in this transaction. */
const lockTablesBriefly = (client: PoolClient) => client.query(`select set_config('lock_timeout', $1, true)`, [`${SWAP_LOCK_TIMEOUT_MS}ms`]);

/** How long a rollback waits for the projection's advisory lock (a live batch holds it for milliseconds). */
const PROJECTION_LOCK_WAIT = '10s';

interface LiveCheckpoint { version: number; generation: number; position: number; halted_at: number | null; last_error: string | null }

async function rowCount(client: PoolClient, schema: string, table: string): Promise<number> {
  return Number((await client.query<{ n: string }>(`select count(*) as n from ${ident(schema)}.${ident(table)}`)).rows[0]!.n);
}

async function liveCheckpoint(client: PoolClient, name: string, lock = false): Promise<LiveCheckpoint | null> {
  const { rows } = await client.query<LiveCheckpoint>(
    `select version, generation, position, halted_at, last_error from projection_checkpoints where name = $1 ${lock ? 'for update' : ''}`, [name]);
  return rows[0] ?? null;
}

/**
 * Rebuilds one projection beside its live version (docs/architecture.md, "Rebuilds"): the new
 * tables are built in a schema of their own from the first event, with the projection's own
 * `apply` run with that schema first on the search path; then verified; then swapped in, in
 * one short transaction under the projection's lock, so readers see the old tables or the new
 * ones and never a half state. The old version is kept in a retired schema for rollback.
 */
export class ProjectionRebuild {
  readonly schema: string;
  private readonly batchSize: number;
  private total = 0;

  constructor(private readonly pool: Pool, private readonly store: EventStore, readonly projection: Projection, private readonly options: RebuildOptions = {}) {
    this.schema = shadowSchemaOf(projection.name, projection.version);
    this.batchSize = options.batchSize ?? REBUILD_BATCH_SIZE;
  }

  /**
   * Prepares, builds, verifies and swaps; throws RebuildRefusedError (nothing swapped) on a mismatch.
   * `fresh` drops a shadow an earlier build left first — under the lock, so never another process's build in progress.
   */
  async run(options: { fresh?: boolean } = {}): Promise<{ build: BuildSummary; report: VerifyReport; swap: SwapResult }> {
    return this.exclusively(async (locks) => {
      if (options.fresh) await this.discard();
      await this.prepare();
      return this.finish(await this.build(), locks);
    });
  }

  /** Verifies a built shadow and swaps it in; throws RebuildRefusedError (nothing swapped) on a mismatch. Call it holding the lock, in `locks`. */
  async finish(build: BuildSummary, locks: RebuildLocks): Promise<{ build: BuildSummary; report: VerifyReport; swap: SwapResult }> {
    const report = await this.verify();
    if (!report.ok) throw new RebuildRefusedError(report);
    await locks.assertHeld(this.projection.name);
    return { build, report, swap: await this.swap() };
  }

  /** Runs `fn` holding the projection's rebuild lock on a connection of its own. */
  async exclusively<T>(fn: (locks: RebuildLocks) => Promise<T>): Promise<T> {
    return withRebuildLocks(this.pool, [this.projection.name], fn);
  }

  /**
   * Creates the shadow schema, or finds the one an interrupted build left (and resumes from its
   * position) — unless that one was built to another shape (`shadowShape`): it is then dropped
   * and built anew, `discarded` saying so.
   */
  async prepare(): Promise<{ resumed: boolean; discarded?: string }> {
    return this.transaction(async (client) => {
      const p = this.projection;
      const live = await liveCheckpoint(client, p.name);
      if (live && live.version > p.version) throw new RebuildSupersededError(p.name, live.version, p.version);
      let discarded: string | undefined;
      if (await schemaExists(client, this.schema)) {
        if (await recordedShape(client, this.schema) === await shadowShape(client, p.tables, p.version)) return { resumed: true };
        discarded = `the shadow ${this.schema} was built to another shape than the live tables and this code have now; built anew`;
        await client.query(`drop schema ${ident(this.schema)} cascade`);
      }
      const problems = await unsupportedShapes(client, p.tables);
      if (problems.length > 0) throw new ShadowUnsupportedError(p.name, problems);
      await createShadowTables(client, this.schema, p.tables, p.version);
      return discarded ? { resumed: false, discarded } : { resumed: false };
    }, false);
  }

  /**
   * Brings the shadow up to the settled horizon: a fresh one in bulk first when the projection
   * has a fold, then event by event; without secondary indexes until caught up, then with them
   * created, the rest. `bulkDone` is the bulk phase when it was run outside (rebuild-together.ts).
   */
  async build(bulkDone?: BuildSummary): Promise<BuildSummary> {
    const state = await this.state();
    this.total = state.applied + await this.countAfter(state.position);
    this.options.onProgress?.({ projection: this.projection.name, applied: state.applied, total: this.total, position: state.position });
    const summary = bulkDone ?? (await this.bulkEligible() ? await this.bulkLoad() : { bulk_applied: 0 });
    for (;;) {
      await this.catchUpShadow(null);
      if ((await this.state()).indexed) return summary;
      await this.transaction(async (client) => {
        await createShadowIndexes(client, this.schema, this.projection.tables);
        await client.query(`update ${ident(this.schema)}.${STATE_TABLE} set indexed = true`);
      });
    }
  }

  /** Whether the build starts with the bulk phase: a fresh shadow of a projection with a fold, bulk not turned off. */
  async bulkEligible(): Promise<boolean> {
    if (!this.projection.bulk || this.options.bulk === false) return false;
    const state = await this.state();
    return state.position === 0 && state.applied === 0 && !state.indexed;
  }

  /**
   * The bulk phase of a fresh shadow: every event of the projection's types up to the settled
   * horizon, read in large pages and folded in memory by the projection's bulk fold, then its
   * rows written in one shadow transaction with the position they stand for. `apply` takes over
   * from there. A fold that refuses an event leaves the shadow untouched, and the build applies
   * event by event from the first one (where `apply` reports the event as it always does).
   */
  private async bulkLoad(): Promise<BuildSummary> {
    const p = this.projection;
    const { passes, position } = await foldInOnePass(this.store, [p], {
      signal: this.options.signal,
      onPage: (now, at) => {
        const { applied } = now.get(p)!;
        this.options.onProgress?.({ projection: p.name, applied, total: Math.max(this.total, applied), position: at });
      },
    });
    const pass = passes.get(p)!;
    if (pass.refused !== undefined) return { bulk_applied: 0, bulk_refused: pass.refused };
    return this.writeFolded(pass.fold, position, pass.applied);
  }

  /**
   * Writes a bulk fold's rows into the fresh shadow, in one shadow transaction with the
   * position they stand for: `applied` events of its types, every one up to `position` (the
   * fold's reader saw the store settled through it).
   */
  async writeFolded(fold: BulkFold, position: number, applied: number): Promise<BuildSummary> {
    try {
      await this.transaction(async (client) => {
        const now = await this.state(client);
        if (now.position !== 0 || now.applied !== 0) throw new Error(`the shadow of ${this.projection.name} moved while its bulk phase read (another builder?)`);
        for (const [table, rows] of fold.rows()) await copyRows(client, table, rows);
        await client.query(`update ${ident(this.schema)}.${STATE_TABLE} set position = $1, applied = $2`, [position, applied]);
      });
    } catch (err) {
      // A row a table's constraint refuses (a count below zero): the events apply refuses, so it is left to apply to say which.
      if (!String((err as { code?: unknown }).code ?? '').startsWith(INTEGRITY_VIOLATION_CLASS)) throw err;
      return { bulk_applied: 0, bulk_refused: (err as Error).message };
    }
    return { bulk_applied: applied };
  }

  /**
   * Compares the shadow with the live tables at one position, when the live version is the
   * one being built: in one repeatable-read transaction the live checkpoint and tables are
   * read as of one snapshot, and the shadow is moved to exactly that checkpoint first. When
   * the live version is another one, its rows mean something else and are not compared; the
   * report then gives the shadow's counts and digests only.
   */
  async verify(waitForLiveMs = 30_000): Promise<VerifyReport> {
    const deadline = Date.now() + waitForLiveMs;
    for (;;) {
      const outcome = await this.transaction(async (client) => {
        const live = await liveCheckpoint(client, this.projection.name);
        const state = await this.state(client);
        const compared = live !== null && live.version === this.projection.version;
        // The shadow ahead of the live version is still comparable when no event of its types lies between them.
        if (compared && live.position < state.position && await this.handledBetween(client, live.position, state.position)) return null;
        if (compared) await this.catchUpShadow(live.position, client);
        const problems: string[] = [];
        const tables: TableComparison[] = [];
        for (const t of this.projection.tables) {
          // With nothing to compare to, a digest would say nothing (and costs a read and a sort of the whole table): counts only.
          if (!compared) {
            tables.push({ table: t, shadow: { rows: await rowCount(client, this.schema, t) } });
            continue;
          }
          const shadow = await tableDigest(client, t, this.schema);
          const liveDigest = await tableDigest(client, t, 'public');
          const row: TableComparison = { table: t, shadow, live: liveDigest };
          if (liveDigest.digest !== shadow.digest) {
            problems.push(`${t}: shadow has ${shadow.rows} rows (digest ${shadow.digest.slice(0, 12)}), live has ${liveDigest.rows} (digest ${liveDigest.digest.slice(0, 12)})`);
            row.only_in_shadow = await this.onlyIn(client, t, this.schema, 'public');
            row.only_in_live = await this.onlyIn(client, t, 'public', this.schema);
          }
          tables.push(row);
        }
        const poisoned = (await client.query<{ n: number }>(`select count(*)::int as n from ${ident(this.schema)}.${SHADOW_DEAD_LETTERS} where status <> 'skipped'`)).rows[0]!.n;
        if (poisoned > 0 && this.projection.onPoison === 'halt') problems.push(`${poisoned} events could not be applied`);
        return { projection: this.projection.name, ok: problems.length === 0, compared, position: (await this.state(client)).position, tables, problems };
      }, true, 'repeatable read');
      if (outcome) return outcome;
      if (Date.now() > deadline) {
        const report = { projection: this.projection.name, ok: false, compared: false, position: (await this.state()).position, tables: [], problems: ['the live version did not reach the shadow\'s position to be compared'] };
        return report;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * The swap, in one transaction under the projection's lock (the live projector's batches
   * wait for it): the last events are applied to the shadow, the live tables move to the
   * retired schema and the shadow's into public, dead letters and the checkpoint follow.
   * The position only moves forward, so the generation stays: a read-your-writes wait for a
   * position the old version had reached is still answered by the new one.
   */
  async swap(): Promise<SwapResult> {
    // Outside the swap's transaction, which holds the projection's lock: the few events applied after it change little.
    await this.transaction((client) => analyzeTables(client, this.schema, this.projection.tables), false);
    return retryingTableLocks(this.projection.name, 'swap', () => this.swapOnce());
  }

  private async swapOnce(): Promise<SwapResult> {
    const p = this.projection;
    return this.transaction(async (client) => {
      await client.query(`select pg_advisory_xact_lock($1)`, [projectionLockKey(p.name)]);
      // Set after the advisory lock (waiting for a live batch is fine): bounds only the waits for the tables' locks.
      await lockTablesBriefly(client);
      const live = await liveCheckpoint(client, p.name, true);
      const before = (await this.state(client)).applied;
      const { position } = await this.catchUpShadow(null, client);
      const state = await this.state(client);
      if (live && live.version > p.version) throw new RebuildSupersededError(p.name, live.version, p.version);
      if (live && position < live.position) throw new Error(`shadow of ${p.name} at ${position} is behind the live version at ${live.position}`);
      // A migration that changed a live table while this build ran: swapping would put a table of the old shape back in public.
      if (await recordedShape(client, this.schema) !== await shadowShape(client, p.tables, p.version)) throw new ShadowOutdatedError(p.name, this.schema);
      const s = ident(this.schema);
      const retired = retiredSchemaOf(p.name, live?.version ?? 0);
      const r = ident(retired);
      for (const old of await retiredSchemas(client, p.name)) await client.query(`drop schema ${ident(old.schema)} cascade`);
      await client.query(`create schema ${r}`);
      await client.query(`create table ${r}.${RETIRED_CHECKPOINT} as select version, position, halted_at, last_error from projection_checkpoints where name = $1`, [p.name]);
      await client.query(`create table ${r}.${RETIRED_DEAD_LETTERS} as select * from dead_letters where projection = $1`, [p.name]);
      await client.query('delete from dead_letters where projection = $1', [p.name]);
      await copyGrants(client, this.schema, p.tables);
      for (const t of p.tables) await client.query(`alter table public.${ident(t)} set schema ${r}`);
      for (const t of p.tables) await client.query(`alter table ${s}.${ident(t)} set schema public`);
      await client.query(
        `insert into dead_letters (projection, event_position, event_id, event_type, error, status)
         select $1, event_position, event_id, event_type, error, status from ${s}.${SHADOW_DEAD_LETTERS}`,
        [p.name]);
      await client.query(
        `insert into projection_checkpoints (name, version, position) values ($1, $2, $3)
         on conflict (name) do update set version = excluded.version, position = excluded.position, halted_at = null, last_error = null, updated_at = now()`,
        [p.name, p.version, position]);
      await client.query(NOTIFY_PROGRESS_SQL, [p.name]);
      await client.query(`drop schema ${s} cascade`);
      return { projection: p.name, version: p.version, position, applied_in_swap: state.applied - before, retired };
    });
  }

  /** Drops the shadow (an abandoned or refused build); the next rebuild starts from the first event. */
  async discard(): Promise<void> {
    await this.pool.query(`drop schema if exists ${ident(this.schema)} cascade`);
  }

  private async onlyIn(client: PoolClient, table: string, from: string, other: string): Promise<string[]> {
    const { rows } = await client.query<{ r: string }>(
      `select r::text as r from (select r::text from ${ident(from)}.${ident(table)} r except all select o::text from ${ident(other)}.${ident(table)} o) as r(r) limit 5`);
    return rows.map((x) => x.r);
  }

  private async handledBetween(client: PoolClient, after: number, through: number): Promise<boolean> {
    const { rows } = await client.query('select 1 from events where position > $1 and position <= $2 and type = any($3::text[]) limit 1',
      [after, through, this.projection.handles]);
    return rows.length > 0;
  }

  private async countAfter(position: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('select count(*)::bigint as n from events where position > $1 and type = any($2::text[])', [position, this.projection.handles]);
    return Number(rows[0]!.n);
  }

  private async state(client?: PoolClient): Promise<{ position: number; applied: number; indexed: boolean }> {
    const { rows } = await (client ?? this.pool).query<{ position: number; applied: number; indexed: boolean }>(
      `select position, applied, indexed from ${ident(this.schema)}.${STATE_TABLE}`);
    return { position: Number(rows[0]!.position), applied: Number(rows[0]!.applied), indexed: rows[0]!.indexed };
  }

  /**
   * Batches until the shadow reaches the settled horizon, or exactly `through`. In `client`'s
   * transaction when given (the verify and the swap), else one transaction per batch.
   */
  private async catchUpShadow(through: number | null, client?: PoolClient): Promise<{ position: number }> {
    for (;;) {
      if (this.options.signal?.aborted) throw this.options.signal.reason ?? new Error('rebuild aborted');
      const batch = client ? await this.shadowBatch(client, through) : await this.transaction((c) => this.shadowBatch(c, through));
      this.options.onProgress?.({ projection: this.projection.name, applied: batch.applied, total: Math.max(this.total, batch.applied), position: batch.position });
      if (batch.done) return batch;
    }
  }

  private async shadowBatch(client: PoolClient, through: number | null): Promise<{ position: number; applied: number; done: boolean }> {
    const state = await this.state(client);
    if (through !== null && state.position >= through) return { ...state, done: true };
    const batch = await this.store.readAll({ after: state.position, limit: this.batchSize, types: this.projection.handles }, client);
    const events = through === null ? batch.events : batch.events.filter((e) => e.position <= through);
    const position = Math.max(state.position, through === null ? batch.settled_through : Math.min(batch.settled_through, through));
    const applying = preparing(client);
    const skipped = events.length > 0 ? await this.skippedInLive(client, state.position, events.at(-1)!.position) : new Set<string>();
    if (this.projection.onPoison === 'skip') await this.applySkipping(applying, events, skipped);
    else for (const event of events) await (skipped.has(event.event_id) ? this.applySkipping(applying, [event], skipped) : this.applyOrFail(applying, event));
    const applied = state.applied + events.length;
    if (position !== state.position) await client.query(`update ${ident(this.schema)}.${STATE_TABLE} set position = $1, applied = $2`, [position, applied]);
    const done = batch.events.length < this.batchSize || (through !== null && position >= through);
    return { position, applied, done };
  }

  /** A poison event of a halting projection stops the build (the live version serves on); the shadow is kept for the next try. */
  private async applyOrFail(client: PoolClient, event: StoredEvent): Promise<void> {
    try {
      await applyOne(this.projection, event, client);
    } catch (err) {
      if (err instanceof PoisonEvent) throw new Error(`rebuild of ${this.projection.name}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /**
   * Events of (after, through] that an operator skipped as dead letters of the live version: the
   * live tables went on without them, so the build does too. A halting projection's build would
   * otherwise stop at such an event again and never get past it.
   */
  private async skippedInLive(client: PoolClient, after: number, through: number): Promise<Set<string>> {
    // A skipped letter the retention sweep removed lives on as its DeadLetterRemoved event (src/retention/events.ts).
    const { rows } = await client.query<{ event_id: string }>(
      `select event_id::text from dead_letters where projection = $1 and status = 'skipped' and event_position > $2 and event_position <= $3
       union
       select data->>'event_id' from events where type = 'DeadLetterRemoved' and data->>'projection' = $1
         and (data->>'event_position')::bigint > $2 and (data->>'event_position')::bigint <= $3`, [this.projection.name, after, through]);
    return new Set(rows.map((r) => r.event_id));
  }

  /**
   * Sets poison events aside as the shadow's dead letters, which the swap makes the live ones:
   * every one of a skipping projection, and those of a halting one the live version skipped.
   * One the live version skipped stays skipped.
   */
  private async applySkipping(client: PoolClient, events: StoredEvent[], skipped: ReadonlySet<string>): Promise<void> {
    for (const event of events) {
      await client.query('savepoint one');
      try {
        await applyOne(this.projection, event, client);
        await client.query('release savepoint one');
      } catch (err) {
        if (!(err instanceof PoisonEvent)) throw err;
        await client.query('rollback to savepoint one');
        await client.query(`insert into ${ident(this.schema)}.${SHADOW_DEAD_LETTERS} (event_position, event_id, event_type, error, status) values ($1, $2, $3, $4, $5)
          on conflict (event_id) do nothing`,
        [event.position, event.event_id, event.type, String((err.cause as Error)?.message ?? err.cause).slice(0, 4000), skipped.has(event.event_id) ? 'skipped' : 'pending']);
      }
    }
  }

  /**
   * A shadow transaction. Its first statement declares it non-appending (so no reader of the
   * global order waits for it, src/events/position.ts), puts the shadow first on the search
   * path (the projection's SQL names its tables unqualified) and gives up commit durability:
   * a shadow batch lost in a crash is simply applied again from the shadow's own position.
   */
  private async transaction<T>(fn: (client: PoolClient) => Promise<T>, shadowFirst = true, isolation: 'read committed' | 'repeatable read' = 'read committed'): Promise<T> {
    return withTransaction(this.pool, async (client) => {
      // Plans are made per execution (prepared statements still save the parsing): a generic plan cached
      // while a shadow table was nearly empty would keep scanning it whole as it grows.
      await client.query(`select ${DECLARE_NON_APPENDING_EXPRESSION}, set_config('search_path', $1, true), set_config('synchronous_commit', 'off', true),
        set_config('plan_cache_mode', 'force_custom_plan', true)`,
        [shadowFirst ? `${ident(this.schema)}, public` : 'public']);
      return fn(client);
    }, `begin isolation level ${isolation}`);
  }
}

/**
 * Puts the retired version back: its tables return to public and the current ones take its
 * place in the retired schema (so a second rollback rolls forward again). The checkpoint goes
 * back to where the retired version stood, in a new generation, since its position may be
 * lower: cached read-your-writes positions no longer hold. Its projector (code of that
 * version) catches it up from there; code of a newer version rebuilds it again.
 */
export async function rollbackProjection(pool: Pool, name: string): Promise<{ projection: string; version: number; position: number; retired: string }> {
  return withRebuildLocks(pool, [name], () => retryingTableLocks(name, 'rollback', () => rollbackOnce(pool, name)));
}

async function rollbackOnce(pool: Pool, name: string): Promise<{ projection: string; version: number; position: number; retired: string }> {
  return withTransaction(pool, async (client) => {
    try {
      await client.query(`select ${DECLARE_NON_APPENDING_EXPRESSION}, set_config('lock_timeout', $2, true), pg_advisory_xact_lock($1)`, [projectionLockKey(name), PROJECTION_LOCK_WAIT]);
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      throw new LocksBusyError(name, 'rollback', `its projector held the projection's lock for more than ${PROJECTION_LOCK_WAIT}`);
    }
    await lockTablesBriefly(client);
    const [retired] = await retiredSchemas(client, name);
    const current = await liveCheckpoint(client, name, true);
    if (!retired || !current) throw new NothingToRollBackError(name);
    const r = ident(retired.schema);
    const { rows: [old] } = await client.query<{ version: number; position: number; halted_at: number | null; last_error: string | null }>(
      `select version, position, halted_at, last_error from ${r}.${RETIRED_CHECKPOINT}`);
    const swapping = ident(`rollback_${name}`);
    await client.query(`drop schema if exists ${swapping} cascade`);
    await client.query(`create schema ${swapping}`);
    await client.query(`create table ${swapping}.${RETIRED_CHECKPOINT} as select version, position, halted_at, last_error from projection_checkpoints where name = $1`, [name]);
    await client.query(`create table ${swapping}.${RETIRED_DEAD_LETTERS} as select * from dead_letters where projection = $1`, [name]);
    await client.query('delete from dead_letters where projection = $1', [name]);
    const tables = await tablesOf(client, retired.schema);
    // Grants made since the swap are on the live tables only; the ones put back must keep them too.
    await copyGrants(client, retired.schema, tables);
    for (const t of tables) await client.query(`alter table public.${ident(t)} set schema ${swapping}`);
    for (const t of tables) await client.query(`alter table ${r}.${ident(t)} set schema public`);
    await client.query(`insert into dead_letters select * from ${r}.${RETIRED_DEAD_LETTERS}`);
    await client.query(
      `update projection_checkpoints set version = $2, position = $3, halted_at = $4, last_error = $5, generation = generation + 1, updated_at = now() where name = $1`,
      [name, old!.version, old!.position, old!.halted_at, old!.last_error]);
    await client.query(NOTIFY_PROGRESS_SQL, [name]);
    await client.query(`drop schema ${r} cascade`);
    const now = retiredSchemaOf(name, current.version);
    await client.query(`alter schema ${swapping} rename to ${ident(now)}`);
    return { projection: name, version: old!.version, position: Number(old!.position), retired: now };
  });
}

/** Drops the retired version (no rollback past this point); the schemas dropped, none when there was nothing to drop. */
export async function dropRetired(pool: Pool, name: string): Promise<string[]> {
  return withRebuildLocks(pool, [name], async () => {
    const client = await pool.connect();
    try {
      const schemas = await retiredSchemas(client, name);
      for (const s of schemas) await client.query(`drop schema if exists ${ident(s.schema)} cascade`);
      return schemas.map((s) => s.schema);
    } finally {
      client.release();
    }
  });
}
