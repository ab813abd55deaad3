import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { withTransaction } from '../infra/database.js';
import { transientDatabaseError } from '../infra/database-errors.js';
import type { Logger } from 'pino';
import type { EventStore } from '../events/store.js';
import type { StoredEvent } from '../events/types.js';
import type { Projection } from './projection.js';
import { DECLARE_NON_APPENDING_EXPRESSION } from '../events/position.js';

export const PROGRESS_CHANNEL = 'tmi_projection_progress';
export const DEFAULT_BATCH_SIZE = 500;

/**
 * Every checkpoint change (batch, unhalt, reset) announces the checkpoint row as it now is, in
 * the transaction that changed it: `<name>:<generation>:<position>:<halted_at or empty>`.
 * Built in SQL from the row itself so no sender can tell a different story.
 */
const PROGRESS_PAYLOAD_SQL = `name || ':' || generation || ':' || position || ':' || coalesce(halted_at::text, '')`;
export const NOTIFY_PROGRESS_SQL = `select pg_notify('${PROGRESS_CHANNEL}', ${PROGRESS_PAYLOAD_SQL}) from projection_checkpoints where name = $1`;

/** A batch's checkpoint move (compare-and-set) and its announcement, in one round trip; no row when the checkpoint moved underneath. */
const MOVE_CHECKPOINT_SQL = `with moved as (
    update projection_checkpoints set position = $2, halted_at = $3, last_error = $4, updated_at = now()
    where name = $1 and position = $5 and version = $6 and generation = $7
    returning name, generation, position, halted_at)
  select pg_notify('${PROGRESS_CHANNEL}', ${PROGRESS_PAYLOAD_SQL}) from moved`;

/** Where a projection stands, as a progress NOTIFY or a checkpoint read says. */
export interface ProgressReport {
  name: string;
  /** Counts rebuilds; a position is only comparable within one generation. Null from a sender that predates generations. */
  generation: number | null;
  position: number;
  /** The poison event it stopped at; null when running. */
  halted_at: number | null;
}

export function decodeProgress(payload: string): ProgressReport | null {
  const parts = payload.split(':');
  const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
  if (parts.length === 2) {
    const position = num(parts[1]);
    return parts[0] && position !== null && Number.isFinite(position) ? { name: parts[0], generation: null, position, halted_at: null } : null;
  }
  if (parts.length !== 4 || !parts[0]) return null;
  const [generation, position, haltedAt] = [num(parts[1]), num(parts[2]), num(parts[3])];
  if (generation === null || position === null || !Number.isFinite(generation) || !Number.isFinite(position)) return null;
  return { name: parts[0], generation, position, halted_at: haltedAt !== null && Number.isFinite(haltedAt) ? haltedAt : null };
}

export interface CatchUpResult {
  /** False when no batch ran: another copy held the projection (and does the work), a newer version owns it, or this version is still being built beside an older one. */
  ran: boolean;
  applied: number;
  position: number;
  halted: boolean;
  /** A newer version of this projection owns its checkpoint; this copy leaves it alone. */
  superseded: boolean;
  /**
   * Committed events lay beyond `position` when the batch read (of its types or not: it must
   * pass those too, since a command waits for every projection it names), unreadable yet
   * because an older transaction that might append was still open (the safe horizon,
   * src/events/position.ts). Their wake-ups were spent on this batch, so nothing else will
   * necessarily wake the projection for them: the caller should run it again soon. Events
   * committed after the read bring wake-ups of their own.
   */
  behind: boolean;
}

export interface CatchUpOptions {
  /**
   * Wait for a copy that holds the projection's lock instead of leaving the work to it (the
   * default). A wake-up must wait: the holder may have read its batch before the wake-up's
   * event committed. The safety net need not: whatever it would find, a holder or a wake-up
   * covers.
   */
  wait?: boolean;
}

interface Checkpoint {
  version: number;
  generation: number;
  position: number;
  halted_at: number | null;
}

/** A 64-bit advisory lock key per projection, so two copies never run one batch twice. */
export const projectionLockKey = (name: string): string => createHash('sha256').update(`projection:${name}`).digest().readBigInt64BE(0).toString();

interface DeadLetterRow {
  id: number;
  event_position: number;
  event_id: string;
  stream_id: string;
  version: number;
}

/** No pending dead letter with that id for that projection (never one, or already resolved or skipped). */
export class DeadLetterNotFoundError extends Error {
  constructor(readonly id: number, readonly projection: string) {
    super(`no pending dead letter ${id} for projection ${projection}`);
    this.name = 'DeadLetterNotFoundError';
  }
}

/** The projection's checkpoint belongs to another version than the code in hand; applying with it would be wrong. */
export class ProjectionVersionMismatchError extends Error {
  constructor(readonly projection: string, readonly stored: number, readonly running: number) {
    super(`projection ${projection} is at version ${stored}; this process runs version ${running}`);
    this.name = 'ProjectionVersionMismatchError';
  }
}

/** A batch met a poison event: it is rolled back and run again one event at a time. */
class IsolateBatch extends Error {}

export class PoisonEvent extends Error {
  constructor(readonly event: StoredEvent, override readonly cause: unknown) {
    super(`projection failed on event ${event.position} (${event.type}): ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/**
 * Moves projections forward through the global order in bounded batches. Each batch is one
 * transaction holding the read-table writes, the dead letters and the checkpoint (moved
 * compare-and-set), under a per-projection advisory lock.
 */
export class ProjectionRunner {
  /** Projections a newer version has taken over; logged once, then left alone. */
  private readonly superseded = new Set<string>();

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly log: Logger,
    private readonly batchSize = DEFAULT_BATCH_SIZE,
  ) {}

  /**
   * Registers the projection. A newer version does not take the live tables over: it is built
   * beside them and swapped in (src/projections/rebuild.ts); an older one — a worker of the previous release still
   * running during a rolling deploy — leaves the newer version's tables alone.
   */
  async ensureRegistered(projection: Projection): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await client.query('select pg_advisory_xact_lock($1)', [projectionLockKey(projection.name)]);
      const { rows } = await client.query<{ version: number }>('select version from projection_checkpoints where name = $1', [projection.name]);
      if (rows.length === 0) {
        await client.query('insert into projection_checkpoints (name, version) values ($1, $2)', [projection.name, projection.version]);
      } else if (rows[0]!.version < projection.version) {
        this.log.info({ projection: projection.name, from: rows[0]!.version, to: projection.version },
          'projection version changed: the new version is built beside the old one, which serves until the swap');
      } else if (rows[0]!.version > projection.version) {
        this.leave(projection, rows[0]!.version);
      }
    });
  }

  /** Runs batches until the projection is caught up with the settled horizon (or halted). */
  async catchUp(projection: Projection, options: CatchUpOptions = {}): Promise<CatchUpResult> {
    let applied = 0;
    for (;;) {
      let last;
      try {
        last = await this.runBatch(projection, options.wait ?? true, false);
      } catch (err) {
        if (!(err instanceof IsolateBatch)) throw err;
        last = await this.runBatch(projection, options.wait ?? true, true);
      }
      applied += last.applied;
      if (!last.ran || last.halted || last.applied < this.batchSize) {
        const { unsettled, ...result } = last;
        return { ...result, applied, behind: result.ran && !result.halted && unsettled };
      }
    }
  }

  private leave(projection: Projection, newer: number): Omit<CatchUpResult, 'behind'> {
    if (!this.superseded.has(projection.name)) {
      this.superseded.add(projection.name);
      this.log.warn({ projection: projection.name, running: projection.version, stored: newer },
        'a newer version of this projection owns it: this process leaves it alone');
    }
    return { ran: false, applied: 0, position: 0, halted: false, superseded: true };
  }

  private async readCheckpoint(client: PoolClient, projection: Projection): Promise<Checkpoint> {
    const { rows } = await client.query<Checkpoint>(
      'select version, generation, position, halted_at from projection_checkpoints where name = $1', [projection.name]);
    if (!rows[0]) throw new Error(`projection ${projection.name} is not registered`);
    return rows[0];
  }

  /**
   * One batch, in one transaction. The events are applied all together first; a poison event
   * among them aborts the transaction (no savepoint is paid for in the common case) and the
   * caller runs the batch again `isolating`: one event at a time, each under a savepoint, so
   * only the poison event is set aside.
   */
  private async runBatch(projection: Projection, wait: boolean, isolating: boolean): Promise<Omit<CatchUpResult, 'behind'> & { unsettled: boolean }> {
    // Early exits commit an empty transaction; nothing was written by then.
    return withTransaction(this.pool, async (client) => {
      const key = projectionLockKey(projection.name);
      // The batch declares itself non-appending before its first write gives it a transaction
      // id, so no reader waits for it (src/events/position.ts). Waiting for the lock holds no
      // transaction id either.
      if (wait) {
        await client.query(`select pg_advisory_xact_lock($1), ${DECLARE_NON_APPENDING_EXPRESSION}`, [key]);
      } else {
        const { rows: lock } = await client.query<{ ok: boolean }>(`select pg_try_advisory_xact_lock($1) as ok, ${DECLARE_NON_APPENDING_EXPRESSION}`, [key]);
        if (!lock[0]!.ok) return { ran: false, applied: 0, position: 0, halted: false, superseded: false, unsettled: false };
      }
      // The version is checked under the lock, in the read the batch builds on: code of one
      // version never applies events to the checkpoint (and tables) of another.
      const checkpoint = await this.readCheckpoint(client, projection);
      if (checkpoint.version > projection.version) return { ...this.leave(projection, checkpoint.version), unsettled: false };
      // The live tables are an older version's: this code's apply must not touch them. Its own
      // version is being built in a shadow (src/projections/rebuild.ts) and takes over at the swap.
      if (checkpoint.version < projection.version) return { ran: false, applied: 0, position: checkpoint.position, halted: false, superseded: false, unsettled: false };
      if (checkpoint.halted_at !== null) return { ran: true, applied: 0, position: checkpoint.position, halted: true, superseded: false, unsettled: false };
      const batch = await this.store.readAll({ after: checkpoint.position, limit: this.batchSize, types: projection.handles }, client);
      let target = batch.settled_through;
      let halted = false;
      if (isolating) {
        const outcome = await this.applyIsolating(projection, batch.events, client);
        halted = outcome.haltedAt !== null;
        if (outcome.haltedAt !== null) target = outcome.haltedAt - 1;
      } else {
        try {
          for (const event of batch.events) await applyOne(projection, event, client);
        } catch (err) {
          if (err instanceof PoisonEvent) throw new IsolateBatch(err.message, { cause: err });
          throw err;
        }
      }
      const position = Math.max(target, checkpoint.position);
      // Nothing applied and nowhere further to go: no write, so no transaction id and no NOTIFY.
      if (batch.events.length === 0 && position === checkpoint.position) {
        return { ran: true, applied: 0, position, halted: false, superseded: false, unsettled: batch.unsettled };
      }
      const moved = await client.query(MOVE_CHECKPOINT_SQL,
        [projection.name, position, halted ? target + 1 : null, halted ? 'halted on a poison event; see dead letters' : null,
          checkpoint.position, checkpoint.version, checkpoint.generation]);
      if (moved.rowCount !== 1) throw new Error(`checkpoint of ${projection.name} moved underneath the runner`);
      return { ran: true, applied: batch.events.length, position, halted, superseded: false, unsettled: !halted && batch.unsettled };
    });
  }

  /**
   * Applies a dead-lettered event again. For a halted projection the event is the one it
   * stopped at, so success also moves the checkpoint past it and lets the projection go on.
   */
  async retryDeadLetter(projection: Projection, id: number): Promise<{ ok: boolean; error?: string }> {
    return this.withDeadLetter(projection, id, async (client, letter, checkpoint) => {
      const [event] = await this.store.readStream(letter.stream_id, { fromVersion: letter.version, toVersion: letter.version, client });
      if (!event) throw new Error(`event ${letter.event_id} is missing from the store`);
      await client.query('savepoint retry');
      try {
        await projection.apply(event, client);
      } catch (err) {
        await client.query('rollback to savepoint retry');
        const message = String((err as Error)?.message ?? err).slice(0, 4000);
        await client.query(`update dead_letters set attempts = attempts + 1, error = $2, updated_at = now() where id = $1`, [id, message]);
        return { ok: false, error: message };
      }
      await client.query(`update dead_letters set status = 'resolved', attempts = attempts + 1, updated_at = now() where id = $1`, [id]);
      if (checkpoint.halted_at === letter.event_position) await this.unhalt(client, projection, letter.event_position);
      return { ok: true };
    });
  }

  /** Gives up on a dead-lettered event; a projection halted on it moves on past it. */
  async skipDeadLetter(projection: Projection, id: number): Promise<{ ok: boolean }> {
    return this.withDeadLetter(projection, id, async (client, letter, checkpoint) => {
      await client.query(`update dead_letters set status = 'skipped', updated_at = now() where id = $1`, [id]);
      if (checkpoint.halted_at === letter.event_position) await this.unhalt(client, projection, letter.event_position);
      return { ok: true };
    });
  }

  private async unhalt(client: PoolClient, projection: Projection, through: number): Promise<void> {
    await client.query(
      `update projection_checkpoints set position = greatest(position, $2), halted_at = null, last_error = null, updated_at = now() where name = $1`,
      [projection.name, through]);
    await client.query(NOTIFY_PROGRESS_SQL, [projection.name]);
  }

  private async withDeadLetter<T>(
    projection: Projection,
    id: number,
    fn: (client: PoolClient, letter: DeadLetterRow, checkpoint: Checkpoint) => Promise<T>,
  ): Promise<T> {
    return withTransaction(this.pool, async (client) => {
      // Wait for a running batch rather than skip: the operator asked for this explicitly.
      await client.query('select pg_advisory_xact_lock($1)', [projectionLockKey(projection.name)]);
      const { rows } = await client.query<DeadLetterRow>(
        `select d.id, d.event_position, d.event_id, e.stream_id, e.version
         from dead_letters d join events e on e.event_id = d.event_id
         where d.id = $1 and d.projection = $2 and d.status = 'pending' for update of d`, [id, projection.name]);
      const letter = rows[0];
      if (!letter) throw new DeadLetterNotFoundError(id, projection.name);
      const checkpoint = await this.readCheckpoint(client, projection);
      // Applying (or skipping past) an event is for the code of the version that owns the tables.
      if (checkpoint.version !== projection.version) throw new ProjectionVersionMismatchError(projection.name, checkpoint.version, projection.version);
      return fn(client, letter, checkpoint);
    });
  }

  private async applyIsolating(projection: Projection, events: StoredEvent[], client: PoolClient): Promise<{ haltedAt: number | null }> {
    for (const event of events) {
      await client.query('savepoint one');
      try {
        await applyOne(projection, event, client);
        await client.query('release savepoint one');
      } catch (err) {
        if (!(err instanceof PoisonEvent)) throw err;
        await client.query('rollback to savepoint one');
        this.log.error({ projection: projection.name, position: event.position, event_type: event.type, err: err.cause }, 'poison event');
        await client.query(
          `insert into dead_letters (projection, event_position, event_id, event_type, error)
           values ($1, $2, $3, $4, $5)
           on conflict (projection, event_id) do update set attempts = dead_letters.attempts + 1, error = excluded.error, status = 'pending', updated_at = now()`,
          [projection.name, event.position, event.event_id, event.type, String((err.cause as Error)?.message ?? err.cause).slice(0, 4000)]);
        if (projection.onPoison === 'halt') return { haltedAt: event.position };
      }
    }
    return { haltedAt: null };
  }
}

export async function applyOne(projection: Projection, event: StoredEvent, client: PoolClient): Promise<void> {
  try {
    await projection.apply(event, client);
  } catch (err) {
    // A lost connection, a deadlock, a lock or statement timeout is the infrastructure's fault, not
    // the event's: the batch fails and BullMQ retries it, instead of dead-lettering a healthy event.
    if (transientDatabaseError(err) !== null) throw err;
    throw new PoisonEvent(event, err);
  }
}

/**
 * Empties a projection's tables and puts its checkpoint back to the start, in a new generation:
 * positions cached from before the reset (read-your-writes progress) no longer hold.
 */
export async function resetProjection(client: PoolClient, projection: Projection): Promise<void> {
  if (projection.tables.length > 0) await client.query(`truncate ${projection.tables.map((t) => `"${t}"`).join(', ')}`);
  await client.query('delete from dead_letters where projection = $1', [projection.name]);
  await client.query(
    `insert into projection_checkpoints (name, version, position) values ($1, $2, 0)
     on conflict (name) do update set version = excluded.version, position = 0, generation = projection_checkpoints.generation + 1,
       halted_at = null, last_error = null, updated_at = now()`,
    [projection.name, projection.version]);
  await client.query(NOTIFY_PROGRESS_SQL, [projection.name]);
}
