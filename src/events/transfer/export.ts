import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Pool, PoolClient } from 'pg';
import { SAFE_HORIZON_SQL } from '../position.js';
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, NOT_MIGRATED, NO_PROGRESS, checkpointColumns, eventColumns, quoteIdent, transferTransaction, type ExportHeader, type TransferProgress } from './format.js';

const FETCH_ROWS = 1_000;

/**
 * Writes the event store to `out` as NDJSON (format.ts): the header, then every event below the
 * safe horizon in position order, then every chain checkpoint sealing them (so the importing side
 * can verify, and keep, what a per-stream chain cannot show: a stream's removed tail), each read
 * through a cursor FETCH_ROWS at a time and written with the stream's backpressure, so memory
 * stays flat whatever the store's size. One read-only repeatable-read transaction: the header's
 * counts and head describe exactly the lines that follow, and since nothing can ever commit below
 * the horizon, the export is a prefix of the global order even while the service keeps
 * appending. It holds no transaction id, so it holds back no reader.
 */
export async function exportEvents(pool: Pool, out: Writable, progress: TransferProgress = NO_PROGRESS): Promise<ExportHeader> {
  return transferTransaction(pool, 'begin isolation level repeatable read read only', progress, async (client) => {
    // Timestamps in UTC whatever the server's default.
    await client.query(`set local timezone = 'UTC'`);
    const columns = await eventColumns(client);
    if (columns.length === 0) throw new Error(NOT_MIGRATED);
    const cpColumns = await checkpointColumns(client);
    const { rows: [range] } = await client.query<{ horizon: number; n: number; head: number | null; checkpoints: number }>(
      `with h as (select ${SAFE_HORIZON_SQL} as horizon)
       select h.horizon, count(e.position)::bigint as n, max(e.position) as head,
              (select count(*) from event_chain_checkpoints c where c.through_position < h.horizon)::bigint as checkpoints
       from h left join events e on e.position < h.horizon group by h.horizon`);
    const horizon = Number(range!.horizon);
    const { rows: [source] } = await client.query<{ database: string; server_version: string; last_migration: string | null }>(
      `select current_database() as database, current_setting('server_version') as server_version,
              (select max(name) from migration_checksums) as last_migration`);
    const header: ExportHeader = {
      format: EXPORT_FORMAT, format_version: EXPORT_FORMAT_VERSION, source: source!,
      columns: columns.map(({ name, type }) => ({ name, type })),
      event_count: Number(range!.n), head_position: Number(range!.head ?? 0),
      checkpoint_columns: cpColumns.map(({ name, type }) => ({ name, type })), checkpoint_count: Number(range!.checkpoints),
      exported_at: new Date().toISOString(),
    };
    await write(out, `${JSON.stringify(header)}\n`);
    progress.start(header.event_count);
    const events = await writeLines(client, out, progress,
      `select ${columns.map((c) => quoteIdent(c.name)).join(', ')} from events where position < ${horizon} order by position`);
    if (events !== header.event_count) throw new Error(`exported ${events} events, the header announced ${header.event_count}`);
    // Every checkpoint seals settled events only, so those below the horizon cover exported events only.
    const checkpoints = await writeLines(client, out, NO_PROGRESS,
      `select ${cpColumns.map((c) => quoteIdent(c.name)).join(', ')} from event_chain_checkpoints where through_position < ${horizon} order by id`);
    if (checkpoints !== header.checkpoint_count) throw new Error(`exported ${checkpoints} checkpoints, the header announced ${header.checkpoint_count}`);
    return header;
  });
}

/** Each row of the query as a line of JSON, through a cursor; how many were written. */
async function writeLines(client: PoolClient, out: Writable, progress: TransferProgress, query: string): Promise<number> {
  await client.query(`declare export_lines no scroll cursor for select row_to_json(r)::text as line from (${query}) r`);
  let written = 0;
  for (;;) {
    const { rows } = await client.query<{ line: string }>(`fetch ${FETCH_ROWS} from export_lines`);
    if (rows.length === 0) break;
    await write(out, rows.map((r) => r.line).join('\n') + '\n');
    written += rows.length;
    progress.advance(rows.length);
  }
  await client.query('close export_lines');
  return written;
}

async function write(out: Writable, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}
