import type { Pool } from 'pg';
import type { EventCatalog } from '../events/catalog.js';
import { POSITION_SHIFT, SAFE_HORIZON_SQL } from '../events/position.js';
import { EVENT_COLUMNS_OF_E, storedEventOf, type EventRow } from '../events/store.js';
import type { StoredEvent } from '../events/types.js';
import { CHILD_KINDS } from '../commands/child-resources/definition.js';
import { THREAT_MODEL_STREAM_TYPE, threatModelStreamId } from '../commands/threat-models/events.js';
import { firstEventsOfThreatModelSql } from './threat-model-streams.js';

/** A point in the history: a global position, or a time (the last position recorded at or before it). */
export type AsOf = { position: number } | { timestamp: string };

export interface StreamsAsOf {
  /** The position the events are as of: at or below the one asked for, and always below the safe horizon. */
  position: number;
  /** Every event of the streams at or below `position`, by stream, in version order (at most `maxEvents` + 1: more than `maxEvents` means too many). */
  events: StoredEvent[];
}

type Row = Partial<EventRow> & { as_of: string };

/** What of a threat model's streams to read: the given streams, or every stream of the given types (all of them by default). */
export type AsOfScope = { threatModelId: string } & ({ streams: readonly string[] } | { types?: readonly string[] });

/**
 * The events of a threat model's streams as they stood at `asOf`, in one statement that also reads
 * the safe horizon (src/events/position.ts): the position is capped just below it, so nothing can
 * later commit at or below the answer's position and the same position always answers the same.
 * A timestamp is the last position of the threat model's own events (its stream and its
 * sub-resources') recorded at or before it, whichever of them are read.
 *
 * The threat model's streams are its own and those of its sub-resources, found by their first
 * event naming it (migration 0027's index); its diagrams' collaboration sessions are not part of
 * its state. Within one stream positions rise with versions (each append reads the stream's
 * committed head in the statement that draws its transaction's id), so a position bound is a
 * version prefix of every stream.
 */
/** The low bits of a position: its event's index within its transaction. */
const TRANSACTION_LOW_BITS = (1 << POSITION_SHIFT) - 1;

export async function readStreamsAsOf(pool: Pool, catalog: EventCatalog, scope: AsOfScope, asOf: AsOf, maxEvents: number): Promise<StreamsAsOf> {
  const position = 'position' in asOf ? String(asOf.position) : null;
  const timestamp = 'timestamp' in asOf ? asOf.timestamp : null;
  const streams = 'streams' in scope ? scope.streams : null;
  const types = 'streams' in scope ? null : scope.types ?? null;
  const { rows } = await pool.query<Row>({
    name: 'tmi_streams_as_of',
    text: `with h as (select ${SAFE_HORIZON_SQL} as horizon),
      own as (
        select $1::text as stream_id, $3::text as stream_type
        union all
        select s.stream_id, s.stream_type from events s where ${firstEventsOfThreatModelSql('$2', 's')} and s.stream_type = any($4::text[])
      ),
      bound as (
        -- A position stands for its whole transaction (one command's events share its high bits):
        -- cut inside one, a create would show without the metadata it was created with.
        select case when $7::bigint is not null then least($7::bigint | ${TRANSACTION_LOW_BITS}, h.horizon - 1)
               else (select coalesce(max(e.position), 0) from own join events e on e.stream_id = own.stream_id
                     where e.created_at <= $8::timestamptz and e.position < h.horizon) end as p
        from h
      ),
      chosen as (
        select x as stream_id from unnest($5::text[]) as x where $5::text[] is not null
        union all
        select stream_id from own where $5::text[] is null and ($6::text[] is null or stream_type = any($6::text[]))
      )
      -- Named by the last event at or below the bound: the position a client saw (X-Event-Position), not the rounding.
      select e.*, (select coalesce(max(x.position), 0) from events x where x.position <= bound.p) as as_of from bound left join lateral (
        select ${EVENT_COLUMNS_OF_E} from chosen join events e on e.stream_id = chosen.stream_id
        where e.position <= bound.p order by e.stream_id, e.version limit $9
      ) e on true`,
    values: [threatModelStreamId(scope.threatModelId), scope.threatModelId, THREAT_MODEL_STREAM_TYPE, CHILD_KINDS, streams, types, position, timestamp, maxEvents + 1],
  });
  const events = rows.filter((r) => r.position !== null && r.position !== undefined).map((r) => storedEventOf(catalog, r as EventRow));
  return { position: Number(rows[0]!.as_of), events };
}
