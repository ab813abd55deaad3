import type { Pool } from 'pg';
import type { Projection } from './projection.js';

export interface ProjectionStatus {
  name: string;
  version: number;
  /** How often it was rebuilt (reset to the first event). */
  generation: number;
  position: number;
  /** Events of the types it handles that it has not applied yet. */
  lag_events: number;
  /** Age of the oldest such event; 0 when caught up. */
  lag_seconds: number;
  halted: boolean;
  last_error: string | null;
  dead_letters: number;
  updated_at: string | null;
  /** The version of the code asking; newer than `version` while a version bump is built beside the live tables. */
  code_version: number;
  /**
   * The live tables are an older version's: they move only while workers of that version run,
   * and stand still once none does, until the background rebuild swaps `code_version` in.
   */
  rebuild_pending: boolean;
  /** Failed tries of that build in a row, and the last one's error (0 and null when none failed or none is pending). */
  rebuild_failures: number;
  rebuild_error: string | null;
}

/** Where every projection stands against the store. */
export async function projectionStatuses(pool: Pool, list: readonly Projection[]): Promise<ProjectionStatus[]> {
  return Promise.all(list.map(async (p) => {
    const { rows } = await pool.query<{
      version: number | null; generation: number | null; position: number | null; halted_at: number | null; last_error: string | null; updated_at: Date | null;
      lag_events: number; oldest: Date | null; dead_letters: number; rebuild_failures: number | null; rebuild_error: string | null;
    }>(
      `with cp as (select * from projection_checkpoints where name = $1),
            behind as (select count(*)::int as n, min(created_at) as oldest from events
                       where position > coalesce((select position from cp), 0) and type = any($2::text[]))
       select cp.version, cp.generation, cp.position, cp.halted_at, cp.last_error, cp.updated_at,
              behind.n as lag_events, behind.oldest,
              (select count(*)::int from dead_letters where projection = $1 and status = 'pending') as dead_letters,
              f.failures as rebuild_failures, f.last_error as rebuild_error
       from behind left join cp on true left join projection_rebuild_failures f on f.name = $1 and f.version = $3`,
      [p.name, p.handles, p.version]);
    const r = rows[0]!;
    const pending = (r.version ?? p.version) < p.version;
    return {
      name: p.name,
      version: r.version ?? p.version,
      generation: r.generation ?? 0,
      position: Number(r.position ?? 0),
      lag_events: r.lag_events,
      lag_seconds: r.oldest ? Math.max(0, (Date.now() - r.oldest.getTime()) / 1000) : 0,
      halted: r.halted_at !== null,
      last_error: r.last_error,
      dead_letters: r.dead_letters,
      updated_at: r.updated_at?.toISOString() ?? null,
      code_version: p.version,
      rebuild_pending: pending,
      rebuild_failures: pending ? r.rebuild_failures ?? 0 : 0,
      rebuild_error: pending ? r.rebuild_error : null,
    };
  }));
}

export interface HaltedProjection {
  name: string;
  /** Position of the poison event it stopped at. */
  halted_at: number;
  last_error: string | null;
}

/** Projections of `list` standing still on a poison event until an operator retries or skips it. */
export async function haltedProjections(pool: Pool, list: readonly Projection[]): Promise<HaltedProjection[]> {
  const { rows } = await pool.query<{ name: string; halted_at: number; last_error: string | null }>(
    'select name, halted_at, last_error from projection_checkpoints where halted_at is not null and name = any($1::text[]) order by name',
    [list.map((p) => p.name)]);
  return rows.map((r) => ({ name: r.name, halted_at: Number(r.halted_at), last_error: r.last_error }));
}

export interface DeadLetter {
  id: number;
  projection: string;
  event_position: number;
  event_id: string;
  event_type: string;
  error: string;
  attempts: number;
  status: 'pending' | 'resolved' | 'skipped';
  created_at: string;
  updated_at: string;
}

export async function listDeadLetters(pool: Pool, options: { projection?: string; status?: string; limit?: number } = {}): Promise<DeadLetter[]> {
  const { rows } = await pool.query(
    `select id, projection, event_position, event_id, event_type, error, attempts, status, created_at, updated_at
     from dead_letters where ($1::text is null or projection = $1) and ($2::text is null or status = $2)
     order by id limit $3`,
    [options.projection ?? null, options.status ?? null, options.limit ?? 100]);
  return rows.map((r) => ({ ...r, event_position: Number(r.event_position), created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString() }));
}
