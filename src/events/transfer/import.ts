import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Pool, PoolClient } from 'pg';
import { RAISE_POSITION_OFFSET_SQL } from '../position.js';
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, NOT_MIGRATED, NO_PROGRESS, eventColumns, quoteIdent, transferTransaction, type EventColumn, type ExportHeader, type TransferProgress } from './format.js';

/** Input the import will not take; nothing was imported. The message names the line. */
export class ImportRefusedError extends Error {}

export interface ImportOptions {
  progress?: TransferProgress;
  /**
   * Run in the importing transaction after the events are in: command-side state the events
   * imply (alias counters) and the projections' checkpoints, which must start over.
   */
  afterInsert?: (client: PoolClient) => Promise<void>;
}

export interface ImportResult { events: number; head_position: number; xid_offset: number }

const BATCH_ROWS = 1_000;
const BATCH_CHARS = 8 * 1024 * 1024;

/**
 * Imports an export (format.ts) into a migrated database whose event store is empty, in one
 * transaction holding `events` locked against appends: every line is checked as it is read
 * and a bad one — or a database constraint it breaks — rolls everything back, so a refused
 * file leaves nothing behind. Rows go in by batched multi-row INSERTs of the lines' own JSON
 * (`json_populate_recordset`), so each column is parsed by PostgreSQL from the text it rendered
 * and comes back exactly (positions, ids, versions, created_at, metadata, columns added later).
 * Then the position offset is raised so the next append continues after the imported head.
 */
async function leftoversOfAnotherStore(client: PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ what: string }>(
    `select 'snapshots' as what where exists (select 1 from snapshots)
     union all select 'command_results' where exists (select 1 from command_results)
     union all select 'event_chain_checkpoints' where exists (select 1 from event_chain_checkpoints)
     union all select format('schema %s', nspname) from pg_namespace where nspname like 'rebuild\\_%' or nspname like 'retired\\_%'`);
  return rows.map((r) => r.what);
}

export async function importEvents(pool: Pool, input: Readable, options: ImportOptions = {}): Promise<ImportResult> {
  const progress = options.progress ?? NO_PROGRESS;
  return transferTransaction(pool, 'begin', progress, async (client) => {
    if ((await eventColumns(client)).length === 0) throw new ImportRefusedError(NOT_MIGRATED);
    await client.query('lock table events in exclusive mode');
    const { rows: [held] } = await client.query<{ n: number }>('select count(*)::bigint as n from (select 1 from events limit 1000) e');
    if (held!.n > 0) throw new ImportRefusedError(`the database already holds events (${held!.n >= 1000 ? 'at least 1000' : held!.n}): an import needs an empty event store`);
    // An emptied store (TRUNCATE passes the immutability trigger) may keep what was derived from
    // its old events: snapshots, idempotency records, chain checkpoints, shadow and retired rebuilds.
    const leftovers = await leftoversOfAnotherStore(client);
    if (leftovers.length > 0) throw new ImportRefusedError(`the database holds what another event store left (${leftovers.join(', ')}): import into a freshly migrated database`);
    const target = await eventColumns(client);

    const lines = createInterface({ input, crlfDelay: Infinity });
    let header: ExportHeader | null = null;
    let columns: EventColumn[] = [];
    let notNull: string[] = [];
    let insertSql = '';
    let lineNo = 0;
    let imported = 0;
    let lastPosition = 0;
    let batch: { lineNo: number; text: string }[] = [];
    let batchChars = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await insertBatch(client, insertSql, batch);
      imported += batch.length;
      progress.advance(batch.length);
      batch = [];
      batchChars = 0;
    };
    for await (const text of lines) {
      lineNo++;
      if (header === null) {
        header = parseHeader(text, target);
        columns = header.columns.map((c) => target.find((t) => t.name === c.name)!);
        notNull = columns.filter((c) => !c.nullable).map((c) => c.name);
        const list = columns.map((c) => quoteIdent(c.name)).join(', ');
        insertSql = `insert into events (${list}) select ${list} from json_populate_recordset(null::events, $1::json)`;
        progress.start(header.event_count);
        continue;
      }
      if (text.trim() === '') throw new ImportRefusedError(`line ${lineNo}: empty line`);
      const position = checkEvent(text, lineNo, columns, notNull);
      if (position <= lastPosition) throw new ImportRefusedError(`line ${lineNo}: position ${position} is not above the previous event's ${lastPosition} (positions must increase)`);
      lastPosition = position;
      batch.push({ lineNo, text });
      batchChars += text.length;
      if (batch.length >= BATCH_ROWS || batchChars >= BATCH_CHARS) await flush();
    }
    if (header === null) throw new ImportRefusedError('line 1: the input is empty (no header)');
    await flush();
    if (imported !== header.event_count) {
      throw new ImportRefusedError(`line ${lineNo}: the input ends after ${imported} events, its header announces ${header.event_count} (a truncated file?)`);
    }
    if (lastPosition !== header.head_position) {
      throw new ImportRefusedError(`line ${lineNo}: the last event's position is ${lastPosition}, the header's head_position ${header.head_position}`);
    }
    await options.afterInsert?.(client);
    const { rows: [offset] } = await client.query<{ xid_offset: number }>(RAISE_POSITION_OFFSET_SQL, [lastPosition]);
    return { events: imported, head_position: lastPosition, xid_offset: Number(offset!.xid_offset) };
  });
}

function parseHeader(text: string, target: EventColumn[]): ExportHeader {
  let header: Partial<ExportHeader>;
  try {
    header = JSON.parse(text) as Partial<ExportHeader>;
  } catch {
    throw new ImportRefusedError('line 1: not JSON; the first line must be the export header');
  }
  if (!header || typeof header !== 'object' || header.format !== EXPORT_FORMAT) {
    throw new ImportRefusedError(`line 1: not a header of a ${EXPORT_FORMAT} export (no "format": "${EXPORT_FORMAT}")`);
  }
  if (header.format_version !== EXPORT_FORMAT_VERSION) {
    throw new ImportRefusedError(`line 1: format version ${String(header.format_version)} is not one this build reads (${EXPORT_FORMAT_VERSION})`);
  }
  if (!Number.isSafeInteger(header.event_count) || header.event_count! < 0 || !Number.isSafeInteger(header.head_position) || header.head_position! < 0) {
    throw new ImportRefusedError('line 1: event_count and head_position must be non-negative integers');
  }
  if (!Array.isArray(header.columns)) throw new ImportRefusedError('line 1: the header lists no columns');
  const seen = new Set<string>();
  for (const c of header.columns as unknown[]) {
    if (!c || typeof c !== 'object' || typeof (c as { name?: unknown }).name !== 'string') throw new ImportRefusedError('line 1: a column of the header has no name');
  }
  for (const c of header.columns) {
    if (seen.has(c.name)) throw new ImportRefusedError(`line 1: column ${c.name} is listed twice`);
    seen.add(c.name);
    const t = target.find((x) => x.name === c.name);
    if (!t) throw new ImportRefusedError(`line 1: column ${c.name} of the export is not a column of this database's events table (migrate it to the exporting build first)`);
    if (t.type !== c.type) throw new ImportRefusedError(`line 1: column ${c.name} is ${c.type} in the export and ${t.type} here`);
  }
  if (!seen.has('position')) throw new ImportRefusedError('line 1: the header lists no column named position');
  const missing = target.filter((t) => !t.nullable && !t.has_default && !header.columns!.some((c) => c.name === t.name));
  if (missing.length > 0) throw new ImportRefusedError(`line 1: the export lacks column(s) ${missing.map((m) => m.name).join(', ')}, which this database requires`);
  return header as ExportHeader;
}

/** Checks an event line against the header's columns; returns its position. */
function checkEvent(text: string, lineNo: number, columns: EventColumn[], notNull: string[]): number {
  let row: Record<string, unknown>;
  try {
    row = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ImportRefusedError(`line ${lineNo}: not JSON`);
  }
  if (!row || typeof row !== 'object' || Array.isArray(row)) throw new ImportRefusedError(`line ${lineNo}: not a JSON object`);
  for (const c of columns) if (!(c.name in row)) throw new ImportRefusedError(`line ${lineNo}: column ${c.name} is missing`);
  const keys = Object.keys(row);
  if (keys.length !== columns.length) {
    const extra = keys.find((k) => !columns.some((c) => c.name === k));
    throw new ImportRefusedError(`line ${lineNo}: column ${extra} is not in the header`);
  }
  for (const name of notNull) if (row[name] === null) throw new ImportRefusedError(`line ${lineNo}: column ${name} is null`);
  const position = row.position;
  if (typeof position !== 'number' || !Number.isSafeInteger(position) || position <= 0) {
    throw new ImportRefusedError(`line ${lineNo}: position ${JSON.stringify(position)} is not a positive integer`);
  }
  return position;
}

/**
 * One multi-row INSERT under a savepoint. When PostgreSQL refuses it (a malformed value, a
 * duplicate id or stream version), the lines are inserted again one by one to name the first
 * one it refuses; the whole import is then rolled back anyway.
 */
async function insertBatch(client: PoolClient, sql: string, batch: { lineNo: number; text: string }[]): Promise<void> {
  await client.query('savepoint import_batch');
  try {
    await client.query(sql, [`[${batch.map((b) => b.text).join(',')}]`]);
    await client.query('release savepoint import_batch');
    return;
  } catch (err) {
    await client.query('rollback to savepoint import_batch');
    for (const line of batch) {
      try {
        await client.query(sql, [`[${line.text}]`]);
      } catch (lineErr) {
        throw new ImportRefusedError(`line ${line.lineNo}: ${(lineErr as Error).message}`);
      }
    }
    throw err;
  }
}
