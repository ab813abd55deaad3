import type { Pool, PoolClient } from 'pg';
import { withTransaction } from '../../infra/database.js';

/**
 * The export format: NDJSON, a header line, then one event a line in global position order,
 * each an object of every column of `events` as PostgreSQL renders it (`row_to_json`), so a
 * column added by a later migration travels without a change here; then (from version 2) one
 * chain checkpoint a line in their order, each an object of every column of
 * `event_chain_checkpoints` but its identity. The header lists both sets of columns and counts
 * both kinds of line. docs/architecture.md.
 */
export const EXPORT_FORMAT = 'tmi-es-events';
export const EXPORT_FORMAT_VERSION = 2;
/** Versions the import reads: 1 is version 2 without checkpoints. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

/** A column of `events` that an insert can write (generated columns are computed again). */
export interface EventColumn {
  name: string;
  /** PostgreSQL's type name (`udt_name`: int8, uuid, jsonb, timestamptz, …). */
  type: string;
  nullable: boolean;
  has_default: boolean;
}

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  format_version: number;
  source: { database: string; server_version: string; last_migration: string | null };
  columns: Pick<EventColumn, 'name' | 'type'>[];
  event_count: number;
  /** The last event's position; 0 for an empty store. */
  head_position: number;
  /** The checkpoint lines' columns (absent in version 1, which carries none). */
  checkpoint_columns: Pick<EventColumn, 'name' | 'type'>[];
  checkpoint_count: number;
  exported_at: string;
}

/** The insertable columns of a table, from the catalog, in table order; none when it does not exist. */
async function insertableColumns(client: PoolClient, table: string): Promise<EventColumn[]> {
  const { rows } = await client.query<{ name: string; type: string; nullable: boolean; has_default: boolean }>(
    `select column_name as name, udt_name as type, is_nullable = 'YES' as nullable,
            column_default is not null or identity_generation is not null as has_default
     from information_schema.columns
     where table_schema = current_schema() and table_name = $1
       and is_generated = 'NEVER' and identity_generation is distinct from 'ALWAYS'
     order by ordinal_position`, [table]);
  return rows;
}

/** The insertable columns of `events`; none when the database is not migrated. */
export const eventColumns = (client: PoolClient): Promise<EventColumn[]> => insertableColumns(client, 'events');
/** The insertable columns of `event_chain_checkpoints` (all but the id, which orders them and is drawn again). */
export const checkpointColumns = (client: PoolClient): Promise<EventColumn[]> => insertableColumns(client, 'event_chain_checkpoints');

export const NOT_MIGRATED = 'this database has no events table: run `tmi-es migrate` on it first';

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Where an export or import reports how far it got (the CLI draws it on stderr). */
export interface TransferProgress {
  start(total: number): void;
  advance(events: number): void;
  finish(): void;
}

export const NO_PROGRESS: TransferProgress = { start() {}, advance() {}, finish() {} };

/**
 * One transfer's transaction on a client of its own, begun with `begin`. A transfer may wait on
 * its file or its reader for long, so the service's idle-in-transaction timeout does not apply.
 * The progress is finished however it ends.
 */
export async function transferTransaction<T>(pool: Pool, begin: string, progress: TransferProgress, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  try {
    return await withTransaction(pool, async (client) => {
      await client.query('set local idle_in_transaction_session_timeout = 0');
      return fn(client);
    }, begin);
  } finally {
    progress.finish();
  }
}
