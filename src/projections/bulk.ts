import type { PoolClient } from 'pg';
import type { StoredEvent } from '../events/types.js';
import { ident } from './shadow-schema.js';

/** A row as the bulk phase writes it: column name to value (JSON-able; jsonb columns hold objects, timestamps ISO strings or Dates). */
export type BulkRow = Record<string, unknown>;

/**
 * A projection's set-based rebuild (docs/architecture.md, "Rebuilds"): the events of its types,
 * from the first one, folded in memory into the rows its tables end up with, which the rebuild
 * then writes in a few large inserts instead of one to four statements per event. It computes
 * each row with the same pure code as the projection's `apply`, and refuses (throws) whatever
 * `apply` would refuse; the rebuild then falls back to applying event by event.
 */
export interface BulkFold {
  add(event: StoredEvent): void;
  /** The final rows of every table, each table's rows all with the same columns. */
  rows(): Iterable<[table: string, rows: Iterable<BulkRow>]>;
}

/** Rows per insert: a few MB of JSON, well under a parameter's limit, and few enough round trips. */
const ROWS_PER_INSERT = 5_000;

/**
 * Writes rows into `table` (the search path's first, i.e. the shadow's) with inserts of
 * `json_populate_recordset`: the rows go as one JSON parameter per chunk and PostgreSQL turns
 * them into the table's own row type, so every column converts exactly as a parameter of the
 * per-event statements would. Only the rows' columns are named (generated columns are not).
 */
export async function insertRows(client: PoolClient, table: string, rows: Iterable<BulkRow>): Promise<number> {
  let chunk: BulkRow[] = [];
  let columns: string | null = null;
  let written = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    columns ??= Object.keys(chunk[0]!).map(ident).join(', ');
    await client.query(`insert into ${ident(table)} (${columns}) select ${columns} from json_populate_recordset(null::${ident(table)}, $1::json)`, [JSON.stringify(chunk)]);
    written += chunk.length;
    chunk = [];
  };
  for (const row of rows) {
    chunk.push(row);
    if (chunk.length >= ROWS_PER_INSERT) await flush();
  }
  await flush();
  return written;
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
