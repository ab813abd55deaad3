import type { Pool } from 'pg';
import type { EventCatalog } from '../events/catalog.js';
import { SAFE_HORIZON_SQL } from '../events/position.js';
import { EVENT_COLUMNS_OF_E, storedEventOf, type EventRow } from '../events/store.js';
import type { StoredEvent } from '../events/types.js';
import { firstEventsOfThreatModelSql } from './threat-model-streams.js';

/** What a history page may be narrowed to; every member given must hold. */
export interface HistoryFilter {
  stream_id?: string;
  /** Event types; any of them. */
  types?: readonly string[];
  /** The actor's user id or email (as recorded in the event's metadata). */
  actor?: string;
  /** Recorded at or after (inclusive), RFC 3339. */
  from?: string;
  /** Recorded before (exclusive), RFC 3339. */
  to?: string;
  /** The threat model's own stream and its sub-resources' streams. */
  threat_model_id?: string;
}

export interface HistoryPage {
  events: StoredEvent[];
  /**
   * The safe horizon the page was read under (exclusive): nothing can commit below it later. A
   * reader paging through one range passes it back as `below`, so its range does not grow while
   * it reads.
   */
  horizon: number;
}

/** An event row, or none (the page is empty: only the horizon), with the horizon it was read under. */
type Row = EventRow & { horizon: string };

/** The WHERE conditions of a filter; `param(value)` returns the value's placeholder. */
function conditions(filter: HistoryFilter, param: (value: unknown) => string): string[] {
  const where: string[] = [];
  if (filter.stream_id !== undefined) where.push(`e.stream_id = ${param(filter.stream_id)}`);
  if (filter.types !== undefined && filter.types.length > 0) where.push(`e.type = any(${param(filter.types)}::text[])`);
  if (filter.actor !== undefined) {
    const actor = param(filter.actor);
    where.push(`(e.metadata->'actor'->>'user_id' = ${actor} or lower(e.metadata->'actor'->>'email') = lower(${actor}))`);
  }
  if (filter.from !== undefined) where.push(`e.created_at >= ${param(filter.from)}::timestamptz`);
  if (filter.to !== undefined) where.push(`e.created_at < ${param(filter.to)}::timestamptz`);
  if (filter.threat_model_id !== undefined) where.push(`e.stream_id in (select s.stream_id from events s where ${firstEventsOfThreatModelSql(param(filter.threat_model_id), 's')})`);
  return where;
}

/**
 * One page of the global order after `after`, filtered, never at or beyond the safe horizon (nor
 * `below`, when given): a reader that moves its cursor to the last position it got misses no
 * event that commits later (src/events/position.ts). Read in position order from the primary
 * key, or — for a threat model or a stream — from its streams' own index, as the planner finds cheaper.
 */
export async function readHistoryPage(
  pool: Pool, catalog: EventCatalog, filter: HistoryFilter, page: { after: number; limit: number; below?: number },
): Promise<HistoryPage> {
  const params: unknown[] = [page.after, page.limit, page.below ?? null];
  const param = (v: unknown) => `$${params.push(v)}`;
  const where = ['e.position > $1', 'e.position < least(h.horizon, coalesce($3::bigint, h.horizon))', ...conditions(filter, param)];
  const { rows } = await pool.query<Row>(
    `with h as (select ${SAFE_HORIZON_SQL} as horizon)
     select e.*, h.horizon from h left join lateral (
       select ${EVENT_COLUMNS_OF_E}
       from events e where ${where.join(' and ')} order by e.position limit $2
     ) e on true`, params);
  const events = rows.filter((r) => r.position !== null).map((r) => storedEventOf(catalog, r));
  return { events, horizon: Number(rows[0]!.horizon) };
}

/** Every matching event after `after`, page by page, up to the horizon the first page was read under (or `max` events). */
export async function* historyPages(
  pool: Pool, catalog: EventCatalog, filter: HistoryFilter, options: { after: number; pageSize: number; max?: number },
): AsyncGenerator<StoredEvent[]> {
  let after = options.after;
  let left = options.max ?? Infinity;
  let below: number | undefined;
  while (left > 0) {
    const limit = Math.min(options.pageSize, left);
    const page = await readHistoryPage(pool, catalog, filter, { after, limit, ...(below !== undefined ? { below } : {}) });
    below ??= page.horizon;
    if (page.events.length > 0) yield page.events;
    if (page.events.length < limit) return;
    after = page.events.at(-1)!.position;
    left -= page.events.length;
  }
}
