import type { EventStore } from '../events/store.js';
import type { StoredEvent } from '../events/types.js';
import type { Projection } from './projection.js';

/** Events between two progress reports of the bulk phase's read (it streams: only a network chunk of events is held at once). */
export const BULK_PROGRESS_EVERY = 20_000;

/** A row as the bulk phase writes it: column name to value (JSON-able; jsonb columns hold objects, timestamps ISO strings or Dates). */
export type BulkRow = Record<string, unknown>;

/**
 * A projection's set-based rebuild (docs/architecture.md, "Rebuilds"): the events of its types,
 * from the first one, folded in memory into the rows its tables end up with, which the rebuild
 * then writes with one COPY per table (copy-rows.ts) instead of one to four statements per
 * event. It computes each row with the same pure code as the projection's `apply`, and refuses
 * (throws) whatever `apply` would refuse; the rebuild then falls back to applying event by event.
 */
export interface BulkFold {
  add(event: StoredEvent): void;
  /** The final rows of every table, each table's rows all with the same columns. */
  rows(): Iterable<[table: string, rows: Iterable<BulkRow>]>;
}

/** Rows by primary key, refusing what the table's key would: a second insert of a key, a change of a row that is not there. */
export class KeyedRows<Row extends BulkRow> {
  readonly byKey = new Map<string, Row>();

  insert(key: string, row: Row): void {
    if (this.byKey.has(key)) throw new Error(`duplicate key ${key}`);
    this.byKey.set(key, row);
  }

  get(key: string): Row | undefined {
    return this.byKey.get(key);
  }

  /** Merges `patch` into the row; false when there is none. */
  patch(key: string, patch: Partial<Row>): boolean {
    const row = this.byKey.get(key);
    if (!row) return false;
    Object.assign(row, patch);
    return true;
  }

  values(): Iterable<Row> {
    return this.byKey.values();
  }
}

/** A projection's fold in a bulk pass: what it holds, the events of its types it took, or why it refused one. */
export interface FoldPass { fold: BulkFold; applied: number; refused?: string }

const EMPTY_FOLD: BulkFold = { add() {}, rows: () => [] };

/** Lets a fold's rows go once they are written (or of no use): the pass's map keeps only the counts. */
export function releaseFold(pass: FoldPass): void {
  pass.fold = EMPTY_FOLD;
}

/**
 * The bulk phase's read, for one projection or several at once: every event of their types up
 * to the settled horizon, in one streamed COPY of the store (EventStore.copyAll), each event
 * parsed once and handed to the fold of every projection handling its type. A fold that refuses
 * an event stops taking events (its projection then applies event by event); once every fold
 * has refused, the read stops. `position` is where the store was settled through: what the
 * folded rows stand for. `onPage` reports progress about every BULK_PROGRESS_EVERY events.
 */
export async function foldInOnePass(
  store: EventStore, projections: readonly Projection[],
  options: { signal?: AbortSignal; onPage?: (passes: ReadonlyMap<Projection, FoldPass>, position: number) => void } = {},
): Promise<{ passes: Map<Projection, FoldPass>; position: number }> {
  const passes = new Map<Projection, FoldPass>();
  const byType = new Map<string, FoldPass[]>();
  for (const p of projections) {
    const pass: FoldPass = { fold: p.bulk!(), applied: 0 };
    passes.set(p, pass);
    for (const type of p.handles) byType.set(type, [...byType.get(type) ?? [], pass]);
  }
  let folding = passes.size;
  if (folding === 0) return { passes, position: 0 };
  let sinceReport = 0;
  let at = 0;
  const fold = (events: StoredEvent[]): boolean => {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('rebuild aborted');
    for (const event of events) {
      for (const pass of byType.get(event.type) ?? []) {
        if (pass.refused !== undefined) continue;
        try {
          pass.fold.add(event);
          pass.applied++;
        } catch (err) {
          pass.refused = (err as Error).message;
          releaseFold(pass); // what it folded so far is of no use: its projection applies event by event
          folding--;
        }
      }
    }
    if (events.length > 0) at = events[events.length - 1]!.position;
    sinceReport += events.length;
    if (sinceReport >= BULK_PROGRESS_EVERY) {
      sinceReport = 0;
      options.onPage?.(passes, at);
    }
    return folding > 0;
  };
  const { settled_through: position } = await store.copyAll({ after: 0, types: [...byType.keys()], ...(options.signal ? { signal: options.signal } : {}) }, fold);
  options.onPage?.(passes, position);
  return { passes, position };
}
