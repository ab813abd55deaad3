import { StringDecoder } from 'node:string_decoder';
import pg, { type Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { decodeCopyLine } from '../infra/copy-text.js';
import { SAFE_HORIZON_SQL, settledThrough } from './position.js';
import type { EventRow } from './store.js';
import type { StoredEvent } from './types.js';

// The order decodeRow reads them in.
const COPIED_COLUMNS = 'position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at';

// The driver's own parser: a COPY text timestamp is the text a SELECT returns, so both reads make the same Date.
const parseTimestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text') as (text: string) => Date;

/**
 * parseTimestamptz, remembering the last text: the events of one transaction share its
 * timestamp, so runs of the same text are common, and the parser's regular expression is a
 * good part of a row's cost. Each event still gets a Date of its own.
 */
function timestamps(): (text: string) => Date {
  let last: string | undefined;
  let parsed: Date | undefined;
  return (text) => {
    if (text !== last) { parsed = parseTimestamptz(text); last = text; }
    // The parser gives ±Infinity (numbers) for PostgreSQL's infinite timestamps: those are passed on as they are.
    return parsed instanceof Date ? new Date(parsed.getTime()) : parsed!;
  };
}

/** A bigint as the driver's INT8 parser gives it (src/infra/database.ts): refused beyond what a number holds exactly. */
function safeInteger(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint ${text} is beyond what a JavaScript number holds exactly`);
  return n;
}

/** A line of the COPY as the row a SELECT of the same columns gives (every column is NOT NULL). */
function decodeRow(line: string, timestampOf: (text: string) => Date): EventRow {
  const [position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at] = decodeCopyLine(line) as string[];
  return {
    position: safeInteger(position!), event_id: event_id!, stream_id: stream_id!, stream_type: stream_type!, version: Number(version), type: type!,
    schema_version: Number(schema_version), data: JSON.parse(data!) as unknown, metadata: JSON.parse(metadata!) as EventRow['metadata'],
    created_at: timestampOf(created_at!),
  };
}

export interface CopyReadOptions {
  after: number;
  /** Only events of these types (all when absent or empty). */
  types?: readonly string[];
  /**
   * Ends the read when aborted, at once: a COPY whose type filter matches little sends nothing for
   * long stretches of its scan, so a check between chunks would wait for the next match.
   */
  signal?: AbortSignal;
}

/**
 * Every event after `after` up to the horizon settled when the read began, in global order, as
 * one `COPY … TO STDOUT` streamed on a connection of its own: the text rows are parsed here
 * (cheaper than the driver's per-row parsing of a SELECT), and handed to `onEvents` a network
 * chunk at a time while PostgreSQL goes on sending, so only a chunk is held at once. `onEvents`
 * returning false stops the read (its connection is then closed: a COPY cannot be cut short).
 */
export async function copyEventsAfter(
  pool: Pool, toStored: (row: EventRow) => StoredEvent, options: CopyReadOptions, onEvents: (events: StoredEvent[]) => boolean | void,
): Promise<{ settled_through: number; stopped: boolean }> {
  if (!Number.isSafeInteger(options.after)) throw new Error(`position ${options.after} is not an integer`);
  const client = await pool.connect();
  let broken: Error | undefined;
  let stopListening = () => {};
  try {
    // The horizon, then the COPY, in two statements (a COPY of a query takes no parameters beside it): safe,
    // since every position at or below a settled horizon is final, so the COPY's later snapshot sees exactly
    // what the horizon's did up to `through`, and anything committed since lies above it.
    const { rows: [h] } = await client.query<{ horizon: number }>(`select ${SAFE_HORIZON_SQL} as horizon`);
    const through = Math.max(options.after, settledThrough(Number(h!.horizon)));
    const types = options.types && options.types.length > 0
      ? `and type = any(array[${options.types.map((t) => client.escapeLiteral(t)).join(', ')}]::text[])` : '';
    const stream = client.query(copyTo(
      `copy (select ${COPIED_COLUMNS} from events where position > ${options.after} and position <= ${through} ${types} order by position) to stdout`));
    const { signal } = options;
    const abort = () => stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('the read was aborted'));
    if (signal?.aborted) abort();
    signal?.addEventListener('abort', abort, { once: true });
    stopListening = () => signal?.removeEventListener('abort', abort);
    const decoder = new StringDecoder('utf8');
    const timestamp = timestamps();
    let rest = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = rest + decoder.write(chunk);
      const end = text.lastIndexOf('\n');
      if (end === -1) { rest = text; continue; }
      rest = text.slice(end + 1);
      const events = text.slice(0, end).split('\n').map((line) => toStored(decodeRow(line, timestamp)));
      if (onEvents(events) === false) {
        broken = new Error('the read was stopped in the middle of its COPY');
        return { settled_through: through, stopped: true };
      }
    }
    if (rest + decoder.end() !== '') throw new Error('the COPY of events ended in the middle of a row');
    return { settled_through: through, stopped: false };
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    stopListening();
    client.release(broken);
  }
}
