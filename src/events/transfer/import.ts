import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Pool, PoolClient } from 'pg';
import { RAISE_POSITION_OFFSET_SQL } from '../position.js';
import { verifyChainIn } from '../verify-chain.js';
import { EXPORT_FORMAT, NOT_MIGRATED, NO_PROGRESS, READABLE_FORMAT_VERSIONS, checkpointColumns, eventColumns, quoteIdent, transferTransaction, type EventColumn, type ExportHeader, type TransferProgress } from './format.js';

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

async function leftoversOfAnotherStore(client: PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ what: string }>(
    `select 'snapshots' as what where exists (select 1 from snapshots)
     union all select 'command_results' where exists (select 1 from command_results)
     union all select 'event_chain_checkpoints' where exists (select 1 from event_chain_checkpoints)
     union all select format('schema %s', nspname) from pg_namespace where nspname like 'rebuild\\_%' or nspname like 'retired\\_%'`);
  return rows.map((r) => r.what);
}

/** The kinds of line after the header, in the order they come, and how many of each the header announced. */
interface LineKind {
  what: 'event' | 'checkpoint';
  expected: number;
  columns: EventColumn[];
  notNull: string[];
  insertSql: string;
}

function lineKind(what: LineKind['what'], table: string, expected: number, listed: ExportHeader['columns'], target: EventColumn[]): LineKind {
  const columns = listed.map((c) => target.find((t) => t.name === c.name)!);
  const list = columns.map((c) => quoteIdent(c.name)).join(', ');
  return {
    what, expected, columns, notNull: columns.filter((c) => !c.nullable).map((c) => c.name),
    // In the file's order: checkpoints draw their ids, which order them, as they are inserted.
    insertSql: `insert into ${table} (${list}) select ${list} from json_populate_recordset(null::${table}, $1::json) with ordinality as r order by r.ordinality`,
  };
}

/**
 * Imports an export (format.ts) into a migrated database whose event store is empty, in one
 * transaction holding `events` locked against appends: every line is checked as it is read
 * and a bad one — or a database constraint it breaks — rolls everything back, so a refused
 * file leaves nothing behind. Rows go in by batched multi-row INSERTs of the lines' own JSON
 * (`json_populate_recordset`), so each column is parsed by PostgreSQL from the text it rendered
 * and comes back exactly (positions, ids, versions, created_at, metadata, columns added later).
 * Before it commits, the hash chain of what went in is verified (verifyChainIn: every link and
 * every checkpoint the file carried), so a file edited after the export — an event changed,
 * removed or inserted — is refused instead of imported. Then the position offset is raised so the
 * next append continues after the imported head.
 */
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
    const target = { events: await eventColumns(client), checkpoints: await checkpointColumns(client) };

    const lines = createInterface({ input, crlfDelay: Infinity });
    let header: ExportHeader | null = null;
    let kinds: LineKind[] = [];
    let kind = 0;
    let read = 0;
    let lineNo = 0;
    let lastPosition = 0;
    let batch: { lineNo: number; text: string }[] = [];
    let batchChars = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await insertBatch(client, kinds[kind]!.insertSql, batch);
      if (kinds[kind]!.what === 'event') progress.advance(batch.length);
      batch = [];
      batchChars = 0;
    };
    for await (const text of lines) {
      lineNo++;
      if (header === null) {
        header = parseHeader(text, target);
        kinds = [
          lineKind('event', 'events', header.event_count, header.columns, target.events),
          lineKind('checkpoint', 'event_chain_checkpoints', header.checkpoint_count, header.checkpoint_columns, target.checkpoints),
        ];
        progress.start(header.event_count);
        continue;
      }
      // The header's counts say where one kind of line ends and the next begins.
      while (kind < kinds.length && read === kinds[kind]!.expected) {
        await flush();
        kind++;
        read = 0;
      }
      if (kind === kinds.length) throw new ImportRefusedError(`line ${lineNo}: more lines than the header announces (${header.event_count} events, ${header.checkpoint_count} checkpoints)`);
      if (text.trim() === '') throw new ImportRefusedError(`line ${lineNo}: empty line`);
      const current = kinds[kind]!;
      const row = checkLine(text, lineNo, current);
      if (current.what === 'event') {
        const position = positionOf(row, lineNo);
        if (position <= lastPosition) throw new ImportRefusedError(`line ${lineNo}: position ${position} is not above the previous event's ${lastPosition} (positions must increase)`);
        lastPosition = position;
      }
      read++;
      batch.push({ lineNo, text });
      batchChars += text.length;
      if (batch.length >= BATCH_ROWS || batchChars >= BATCH_CHARS) await flush();
    }
    if (header === null) throw new ImportRefusedError('line 1: the input is empty (no header)');
    await flush();
    const short = kinds.find((k, i) => (i > kind && k.expected > 0) || (i === kind && read < k.expected));
    if (short) {
      const got = kinds.indexOf(short) === kind ? read : 0;
      throw new ImportRefusedError(`line ${lineNo}: the input ends after ${got} ${short.what}s, its header announces ${short.expected} (a truncated file?)`);
    }
    if (lastPosition !== header.head_position) {
      throw new ImportRefusedError(`line ${lineNo}: the last event's position is ${lastPosition}, the header's head_position ${header.head_position}`);
    }
    // What came in must be what was exported: an edited, removed or inserted event (or checkpoint) is refused.
    const chain = await verifyChainIn(client);
    if (!chain.ok) {
      const b = chain.first_broken!;
      const where = b.checkpoint_id === null ? `at position ${b.position} (stream ${b.stream_id}, version ${b.version})` : 'in a checkpoint of the file';
      throw new ImportRefusedError(`the imported events' hash chain does not verify (${chain.broken_links} broken links, ${chain.broken_checkpoints} broken checkpoints); `
        + `first ${b.problem} ${where}: ${b.detail}`);
    }
    await options.afterInsert?.(client);
    const { rows: [offset] } = await client.query<{ xid_offset: number }>(RAISE_POSITION_OFFSET_SQL, [lastPosition]);
    return { events: header.event_count, head_position: lastPosition, xid_offset: Number(offset!.xid_offset) };
  });
}

/** The header's list of one kind of line's columns, checked against this database's table. */
function checkColumns(listed: unknown, target: EventColumn[], what: string): ExportHeader['columns'] {
  if (!Array.isArray(listed)) throw new ImportRefusedError(`line 1: the header lists no ${what} columns`);
  for (const c of listed as unknown[]) {
    if (!c || typeof c !== 'object' || typeof (c as { name?: unknown }).name !== 'string') throw new ImportRefusedError(`line 1: a ${what} column of the header has no name`);
  }
  const columns = listed as ExportHeader['columns'];
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) throw new ImportRefusedError(`line 1: ${what} column ${c.name} is listed twice`);
    seen.add(c.name);
    const t = target.find((x) => x.name === c.name);
    if (!t) throw new ImportRefusedError(`line 1: ${what} column ${c.name} of the export is not a column of this database's table (migrate it to the exporting build first)`);
    if (t.type !== c.type) throw new ImportRefusedError(`line 1: ${what} column ${c.name} is ${c.type} in the export and ${t.type} here`);
  }
  const missing = target.filter((t) => !t.nullable && !t.has_default && !seen.has(t.name));
  if (missing.length > 0) throw new ImportRefusedError(`line 1: the export lacks ${what} column(s) ${missing.map((m) => m.name).join(', ')}, which this database requires`);
  return columns;
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

function parseHeader(text: string, target: { events: EventColumn[]; checkpoints: EventColumn[] }): ExportHeader {
  let header: Partial<ExportHeader>;
  try {
    header = JSON.parse(text) as Partial<ExportHeader>;
  } catch {
    throw new ImportRefusedError('line 1: not JSON; the first line must be the export header');
  }
  if (!header || typeof header !== 'object' || header.format !== EXPORT_FORMAT) {
    throw new ImportRefusedError(`line 1: not a header of a ${EXPORT_FORMAT} export (no "format": "${EXPORT_FORMAT}")`);
  }
  if (!READABLE_FORMAT_VERSIONS.includes(header.format_version as number)) {
    throw new ImportRefusedError(`line 1: format version ${String(header.format_version)} is not one this build reads (${READABLE_FORMAT_VERSIONS.join(', ')})`);
  }
  if (!isCount(header.event_count) || !isCount(header.head_position)) {
    throw new ImportRefusedError('line 1: event_count and head_position must be non-negative integers');
  }
  if (!Array.isArray(header.columns)) throw new ImportRefusedError('line 1: the header lists no columns');
  const columns = checkColumns(header.columns, target.events, 'event');
  if (!columns.some((c) => c.name === 'position')) throw new ImportRefusedError('line 1: the header lists no column named position');
  // Version 1 carried no checkpoints.
  if (header.format_version === 1) return { ...header, columns, checkpoint_columns: [], checkpoint_count: 0 } as ExportHeader;
  if (!isCount(header.checkpoint_count)) throw new ImportRefusedError('line 1: checkpoint_count must be a non-negative integer');
  const checkpointCols = checkColumns(header.checkpoint_columns, target.checkpoints, 'checkpoint');
  return { ...header, columns, checkpoint_columns: checkpointCols } as ExportHeader;
}

/** Checks a line against its kind's columns (exactly those the header lists, none null the table needs); its object. */
function checkLine(text: string, lineNo: number, kind: LineKind): Record<string, unknown> {
  let row: Record<string, unknown>;
  try {
    row = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ImportRefusedError(`line ${lineNo}: not JSON`);
  }
  if (!row || typeof row !== 'object' || Array.isArray(row)) throw new ImportRefusedError(`line ${lineNo}: not a JSON object`);
  for (const c of kind.columns) if (!(c.name in row)) throw new ImportRefusedError(`line ${lineNo}: ${kind.what} column ${c.name} is missing`);
  const keys = Object.keys(row);
  if (keys.length !== kind.columns.length) {
    const extra = keys.find((k) => !kind.columns.some((c) => c.name === k));
    throw new ImportRefusedError(`line ${lineNo}: column ${extra} is not among the header's ${kind.what} columns`);
  }
  for (const name of kind.notNull) if (row[name] === null) throw new ImportRefusedError(`line ${lineNo}: ${kind.what} column ${name} is null`);
  return row;
}

function positionOf(row: Record<string, unknown>, lineNo: number): number {
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
