import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { EventCatalog } from './catalog.js';
import { retryOnConflict } from '../infra/database-errors.js';
import { canonicalJson, contentDigest, linkHashSql } from './chain.js';
import { copyEventsAfter, type CopyReadOptions } from './copy-read.js';
import { CommandIdReusedError, CommandIdTakenError, StreamChangedError, TooManyEventsError, VersionConflictError } from './errors.js';
import { SnapshotStore } from './snapshots.js';
import { MAX_EVENTS_PER_TRANSACTION, SAFE_HORIZON_SQL, TRANSACTION_BASE_POSITION_SQL, settledThrough } from './position.js';
import type { AppendResult, EventMetadata, ExpectedVersion, NewEvent, StoredEvent, StreamAppend, StreamCondition } from './types.js';

/** Most events one append call may carry; bulk commands stay well below. */
export const MAX_EVENTS_PER_APPEND = 10_000;

type Queryable = Pool | PoolClient;

export interface AppendOptions {
  metadata: EventMetadata;
  /** An idempotency key: a command id used before returns the original result, appending nothing. */
  command_id?: string | null;
  /**
   * What the command id was sent with (a hash of the request): the id used again with another
   * fingerprint is refused with CommandIdReusedError instead of replaying an unrelated outcome.
   * Ids stored without one (or reused without one) replay as before.
   */
  command_fingerprint?: string | null;
  /** Run inside the caller's transaction instead of a statement of its own. */
  client?: PoolClient;
  /** Streams the command relied on without appending to them; the append fails if one changed. */
  conditions?: readonly StreamCondition[];
}

export interface ReadAllOptions {
  after: number;
  limit: number;
  types?: readonly string[];
}

export interface ReadAllResult {
  events: StoredEvent[];
  /**
   * Every position up to this one is settled and was considered by this read; a reader that
   * got fewer events than it asked for may move its checkpoint here.
   */
  settled_through: number;
  /**
   * Committed events lay beyond the horizon when this read ran (an older transaction that might
   * still append was open): a reader that stops here should read again soon — nothing else may
   * wake it for them, since their own wake-ups may already have been spent on this read.
   */
  unsettled: boolean;
}

// Expected versions travel as integers: -1 any, 0 no stream, n exactly n.
const encodeExpected = (e: ExpectedVersion): number => (e === 'any' ? -1 : e === 'no_stream' ? 0 : e);

/** The conditions as the statements' JSON parameter. */
const encodeConditions = (conditions: readonly StreamCondition[]): string =>
  JSON.stringify(conditions.map((c) => ({ stream_id: c.stream_id, since: c.unchanged_since, types: c.types ?? null })));

/**
 * The CTEs `conds` and `broken` of the appends that carry conditions (parameter `$n`, from
 * encodeConditions): `broken` has the first version at which each condition's stream changed
 * since the version it names, null while it holds.
 */
const brokenConditionsSql = (n: number) => `conds as (select * from jsonb_to_recordset($${n}::jsonb) as c(stream_id text, since int, types text[])),
broken as (
  select c.stream_id, c.since,
         (select min(e.version) from events e
          where e.stream_id = c.stream_id and e.version > c.since and (c.types is null or e.type = any(c.types))) as changed_at
  from conds c
),`;

/**
 * The CTE `cur` of the one-stream statements (stream `$1`): its head's version and hash, found by
 * one probe of the (stream_id, version) index, and the transaction's first position and timestamp.
 */
const HEAD_SQL = `cur as (
  select coalesce(h.version, 0) as v, coalesce(h.hash, ''::bytea) as h, ${TRANSACTION_BASE_POSITION_SQL} as p, now() as at
  from (select) one left join lateral (select version, hash from events where stream_id = $1 order by version desc limit 1) h on true
)`;

/**
 * The link hash of each new event, chained from its stream's head (`head`) through the events
 * before it in the window (one stream's new events in version order), by migration 0037's window
 * aggregate over the position, version and timestamp the insert stores and the content digest `c`.
 */
const linkHashOverSql = (head: string, position: string, version: string, at: string, c: string, window: string) =>
  `tmi_chain_link(${head}, ${position}, ${version}, ${at}, ${c}) over (${window})`;

const APPEND_SQL = `
with input as (
  select * from unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::jsonb[], $7::uuid[], $8::int[], $15::bytea[])
    as t(stream_id, stream_type, offset_in_stream, type, schema_version, data, event_id, idx, c)
),
streams_in as (select * from unnest($9::text[], $10::int[]) as s(stream_id, expected)),
cur as (
  select s.stream_id, s.expected, coalesce(h.version, 0) as actual, coalesce(h.hash, ''::bytea) as head_hash
  from streams_in s
  left join lateral (select e.version, e.hash from events e where e.stream_id = s.stream_id order by e.version desc limit 1) h on true
),
${brokenConditionsSql(14)}
verdict as (
  select bool_and(expected = -1 or expected = actual)
         and not exists (select 1 from broken where changed_at is not null) as ok
  from cur
),
base as (select coalesce(nullif(current_setting('tmi.event_seq', true), ''), '0')::int as n, ${TRANSACTION_BASE_POSITION_SQL} as p, now() as at),
seq as (select set_config('tmi.event_seq', (base.n + cardinality($1::text[]))::text, true) as v from base),
cmd as (
  insert into command_results (command_id, event_ids, request_hash)
  select $12, $7::uuid[], $13 from verdict where $12::text is not null and verdict.ok
  on conflict (command_id) do nothing
  returning command_id
),
ins as (
  insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at, hash)
  select base.p + base.n + i.idx, i.event_id, i.stream_id, i.stream_type,
         c.actual + i.offset_in_stream, i.type, i.schema_version, i.data, $11::jsonb, base.at,
         ${linkHashOverSql('c.head_hash', 'base.p + base.n + i.idx', 'c.actual + i.offset_in_stream', 'base.at', 'i.c', 'partition by i.stream_id order by i.offset_in_stream')}
  from input i
  join cur c on c.stream_id = i.stream_id
  cross join base cross join seq cross join verdict
  where verdict.ok
    and base.n + cardinality($1::text[]) <= ${MAX_EVENTS_PER_TRANSACTION}
    and ($12::text is null or exists (select 1 from cmd))
  -- One insertion order for everyone: writers racing on the same streams then wait on each other's
  -- first key instead of each holding a key the other needs (a deadlock).
  order by i.stream_id, i.offset_in_stream
  returning position, event_id, stream_id, version, created_at
)
select 'stream' as kind, stream_id, actual as version, expected, null::bigint as position, null::uuid as event_id, null::timestamptz as created_at,
       (select count(*) from cmd)::int as cmd_inserted
from cur
union all
select 'condition', stream_id, changed_at, since, null, null, null, null from broken where changed_at is not null
union all
select 'event', stream_id, version, null, position, event_id, created_at, null from ins`;

/**
 * The common case — one stream, a statement of its own, no command id — in a leaner statement:
 * the general one's CTE chain costs about twice a plain INSERT's CPU per commit (docs/performance.md).
 * Same guarantees: the version check and the insert are one statement, a racing writer loses on the
 * (stream_id, version) key, and the index in the transaction starts at 0 because nothing else was
 * appended in it.
 */
const APPEND_ONE_STREAM_SQL = `
with ${HEAD_SQL},
t as (select * from unnest($3::text[], $4::int[], $5::jsonb[], $6::uuid[], $9::bytea[]) with ordinality as t(type, sv, data, event_id, c, i))
insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at, hash)
select cur.p + t.i - 1, t.event_id, $1, $2, cur.v + t.i, t.type, t.sv, t.data, $7::jsonb, cur.at,
       ${linkHashOverSql('cur.h', 'cur.p + t.i - 1', '(cur.v + t.i)::int', 'cur.at', 't.c', 'order by t.i')}
from cur, t
where $8::int = -1 or cur.v = $8::int
order by t.i
returning position, event_id, stream_id, version, created_at`;

/**
 * The commonest append of all — one event, one stream — as the lean statement with scalars for
 * arrays and no recursion: the chain has a single link, from the head.
 */
const APPEND_ONE_EVENT_SQL = `
with ${HEAD_SQL}
insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at, hash)
select cur.p, $6::uuid, $1, $2, cur.v + 1, $3, $4::int, $5::jsonb, $7::jsonb, cur.at,
       ${linkHashSql('cur.h', 'cur.p', 'cur.v + 1', 'cur.at', '$9::bytea')}
from cur
where $8::int = -1 or cur.v = $8::int
returning position, event_id, stream_id, version, created_at`;

/**
 * Several commands' events on one stream in one statement (a group commit): each event carries
 * its own metadata and, optionally, its own command id, recorded in the same statement. Like the
 * lean statement, it runs alone in its transaction (its index starts at 0). A command id used
 * before is not skipped but fails the whole statement (the primary key of command_results): a
 * batch lands entirely or not at all, and the caller decides again knowing which id was taken.
 */
const APPEND_EACH_SQL = `
with input as (
  select * from unnest($3::text[], $4::int[], $5::jsonb[], $6::uuid[], $7::jsonb[], $8::text[], $9::text[], $12::bytea[]) with ordinality
    as t(type, sv, data, event_id, metadata, command_id, request_hash, c, i)
),
${HEAD_SQL},
${brokenConditionsSql(11)}
verdict as (
  select ($10::int = -1 or cur.v = $10::int) and not exists (select 1 from broken where changed_at is not null) as ok, cur.v
  from cur
),
cmd as (
  insert into command_results (command_id, event_ids, request_hash)
  select i.command_id, array[i.event_id], i.request_hash from input i cross join verdict
  where verdict.ok and i.command_id is not null
  returning command_id
),
ins as (
  insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at, hash)
  select cur.p + i.i - 1, i.event_id, $1, $2, verdict.v + i.i, i.type, i.sv, i.data, i.metadata, cur.at,
         ${linkHashOverSql('cur.h', 'cur.p + i.i - 1', '(verdict.v + i.i)::int', 'cur.at', 'i.c', 'order by i.i')}
  from input i cross join cur cross join verdict
  where verdict.ok
  order by i.i
  returning position, event_id, version, created_at
)
select 'stream' as kind, $1 as stream_id, v as version, $10::int as expected, null::bigint as position, null::uuid as event_id, null::timestamptz as created_at
from verdict
union all
select 'condition', stream_id, changed_at, since, null, null, null from broken where changed_at is not null
union all
select 'event', $1, version, null, position, event_id, created_at from ins`;

/** One command's event in a group commit: its own metadata and idempotency key. */
export interface EachEvent extends NewEvent {
  metadata: EventMetadata;
  command_id?: string | null;
  command_fingerprint?: string | null;
}

const EVENT_COLUMNS = 'position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at';
/** The event columns as read from `events e`, in the shape storedEventOf maps. */
export const EVENT_COLUMNS_OF_E = EVENT_COLUMNS.split(', ').map((c) => `e.${c}`).join(', ');

interface AppendRow {
  kind: 'stream' | 'condition' | 'event';
  stream_id: string;
  version: number;
  expected: number | null;
  position: number | null;
  event_id: string | null;
  created_at: Date | null;
  cmd_inserted: number | null;
}

export interface EventRow extends QueryResultRow {
  position: number;
  event_id: string;
  stream_id: string;
  stream_type: string;
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  created_at: Date;
}

/** The PostgreSQL event store: append with optimistic concurrency, read a stream, read the global order. */
export class EventStore {
  /** Aggregate snapshots, read together with the events after them by the shared load path (snapshots.ts). */
  readonly snapshots: SnapshotStore;

  constructor(
    private readonly pool: Pool,
    readonly catalog: EventCatalog,
  ) {
    this.snapshots = new SnapshotStore(pool, catalog);
  }

  async appendToStream(append: StreamAppend, options: AppendOptions): Promise<AppendResult> {
    return this.appendToStreams([append], options);
  }

  /** Appends to one or several streams atomically; each stream's expected version is checked first. */
  async appendToStreams(appends: StreamAppend[], options: AppendOptions): Promise<AppendResult> {
    const ids = new Set<string>();
    for (const a of appends) {
      if (ids.has(a.stream_id)) throw new Error(`stream ${a.stream_id} appears twice in one append`);
      ids.add(a.stream_id);
    }
    const total = appends.reduce((n, a) => n + a.events.length, 0);
    if (total > MAX_EVENTS_PER_APPEND) throw new TooManyEventsError(total, MAX_EVENTS_PER_APPEND);

    const cols = { stream: [] as string[], stype: [] as string[], offset: [] as number[], type: [] as string[], sv: [] as number[], data: [] as string[], id: [] as string[], idx: [] as number[], c: [] as Buffer[] };
    const typeById = new Map<string, { type: string; data: unknown; schema_version: number; stream_type: string }>();
    const metadataJson = canonicalJson({ ...options.metadata, command_id: options.command_id ?? null });
    let idx = 0;
    for (const a of appends) {
      a.events.forEach((e, i) => {
        const schemaVersion = this.catalog.validate(e.type, e.data);
        const id = uuidv7();
        const dataJson = canonicalJson(e.data);
        cols.stream.push(a.stream_id);
        cols.stype.push(a.stream_type);
        cols.offset.push(i + 1);
        cols.type.push(e.type);
        cols.sv.push(schemaVersion);
        cols.data.push(dataJson);
        cols.id.push(id);
        cols.idx.push(idx++);
        cols.c.push(contentDigest({
          event_id: id, stream_id: a.stream_id, stream_type: a.stream_type, type: e.type, schema_version: schemaVersion,
          data_json: dataJson, metadata_json: metadataJson,
        }));
        typeById.set(id, { type: e.type, data: e.data, schema_version: schemaVersion, stream_type: a.stream_type });
      });
    }
    const conditions = options.conditions ?? [];
    const lean = appends.length === 1 && !options.client && !options.command_id && conditions.length === 0;
    const query = lean && total === 1
      ? { name: 'tmi_append_one_event', text: APPEND_ONE_EVENT_SQL, values: [
        appends[0]!.stream_id, appends[0]!.stream_type, cols.type[0], cols.sv[0], cols.data[0], cols.id[0], metadataJson, encodeExpected(appends[0]!.expected), cols.c[0]] }
      : lean
      ? { name: 'tmi_append_one_stream', text: APPEND_ONE_STREAM_SQL, values: [
        appends[0]!.stream_id, appends[0]!.stream_type, cols.type, cols.sv, cols.data, cols.id, metadataJson, encodeExpected(appends[0]!.expected), cols.c] }
      : { name: 'tmi_append', text: APPEND_SQL, values: [
        cols.stream, cols.stype, cols.offset, cols.type, cols.sv, cols.data, cols.id, cols.idx,
        appends.map((a) => a.stream_id), appends.map((a) => encodeExpected(a.expected)), metadataJson, options.command_id ?? null,
        options.command_fingerprint ?? null,
        encodeConditions(conditions), cols.c] };

    // With expected 'any', two writers can both read version n and race for n+1; the loser retries.
    for (let attempt = 0; ; attempt++) {
      let rows: AppendRow[];
      try {
        // The append is one statement: after a deadlock or serialization failure it can simply run
        // again. Inside a caller's transaction it cannot (the transaction is aborted); the caller decides.
        rows = options.client
          ? (await options.client.query<AppendRow>(query)).rows
          : (await retryOnConflict(() => this.pool.query<AppendRow>(query))).rows;
      } catch (err) {
        const pgErr = err as { code?: string; constraint?: string };
        if (pgErr.code === '23505' && pgErr.constraint === 'events_stream_version_key') {
          const anyOnly = appends.every((a) => a.expected === 'any');
          if (anyOnly && attempt < 10 && !options.client) continue;
          throw await this.conflictFromCurrent(appends);
        }
        throw err;
      }
      const inserted = lean ? rows : rows.filter((r) => r.kind === 'event');
      if (inserted.length === 0 && total > 0) {
        // A resent command answers with what it did the first time, even though its expected version is now stale.
        if (options.command_id) {
          const original = await this.commandResult(options.command_id, { fingerprint: options.command_fingerprint, client: options.client });
          if (original) return original;
        }
        if (lean) throw await this.conflictFromCurrent(appends);
        const bad = rows.find((s) => s.kind === 'stream' && s.expected !== -1 && s.expected !== s.version);
        if (bad) throw new VersionConflictError(bad.stream_id, decodeExpected(bad.expected!), bad.version);
        const changed = rows.find((s) => s.kind === 'condition');
        if (changed) throw new StreamChangedError(changed.stream_id, changed.expected!, changed.version);
        throw new TooManyEventsError(total, MAX_EVENTS_PER_TRANSACTION);
      }
      const byId = new Map(inserted.map((r) => [r.event_id!, r]));
      const events: StoredEvent[] = cols.id.map((id) => {
        const row = byId.get(id)!;
        const meta = typeById.get(id)!;
        return {
          position: Number(row.position), event_id: id, stream_id: row.stream_id, stream_type: meta.stream_type,
          version: row.version, type: meta.type, schema_version: meta.schema_version, data: meta.data,
          metadata: { ...options.metadata, command_id: options.command_id ?? null }, created_at: row.created_at!,
        };
      });
      return summarize(events, false, appends.map((a) => a.stream_id));
    }
  }

  /**
   * Appends events of several commands to one stream at once, each with its own metadata and
   * command id (the realtime hub's group commit): one statement, one commit. Fails with
   * VersionConflictError or StreamChangedError as appendToStreams does, and with
   * CommandIdTakenError when one of the command ids was used before (nothing is appended).
   */
  async appendEach(
    append: { stream_id: string; stream_type: string; expected: ExpectedVersion; events: readonly EachEvent[] },
    options: { conditions?: readonly StreamCondition[] } = {},
  ): Promise<StoredEvent[]> {
    if (append.events.length === 0) return [];
    const ids = append.events.map((e) => e.command_id).filter((id): id is string => !!id);
    // Two in one statement would fail it as if another append had taken one: a caller retrying on that would never succeed.
    if (new Set(ids).size !== ids.length) throw new Error('a command id appears twice in one append');
    if (append.events.length > MAX_EVENTS_PER_APPEND) throw new TooManyEventsError(append.events.length, MAX_EVENTS_PER_APPEND);
    const prepared = append.events.map((e) => {
      const id = uuidv7();
      const schemaVersion = this.catalog.validate(e.type, e.data);
      const metadata = { ...e.metadata, command_id: e.command_id ?? null };
      const dataJson = canonicalJson(e.data);
      const metadataJson = canonicalJson(metadata);
      const digest = contentDigest({
        event_id: id, stream_id: append.stream_id, stream_type: append.stream_type, type: e.type, schema_version: schemaVersion,
        data_json: dataJson, metadata_json: metadataJson,
      });
      return { event: e, id, schemaVersion, metadata, dataJson, metadataJson, digest };
    });
    const conditions = options.conditions ?? [];
    let rows: AppendRow[];
    try {
      ({ rows } = await retryOnConflict(() => this.pool.query<AppendRow>({
        name: 'tmi_append_each', text: APPEND_EACH_SQL, values: [
          append.stream_id, append.stream_type, prepared.map((p) => p.event.type), prepared.map((p) => p.schemaVersion),
          prepared.map((p) => p.dataJson), prepared.map((p) => p.id), prepared.map((p) => p.metadataJson),
          prepared.map((p) => p.event.command_id ?? null), prepared.map((p) => p.event.command_fingerprint ?? null),
          encodeExpected(append.expected),
          encodeConditions(conditions), prepared.map((p) => p.digest),
        ],
      })));
    } catch (err) {
      const pgErr = err as { code?: string; constraint?: string };
      if (pgErr.code === '23505' && pgErr.constraint === 'events_stream_version_key') throw await this.conflictFromCurrent([{ ...append, events: [] }]);
      if (pgErr.code === '23505' && pgErr.constraint === 'command_results_pkey') throw new CommandIdTakenError();
      throw err;
    }
    const inserted = rows.filter((r) => r.kind === 'event');
    if (inserted.length === 0) {
      const changed = rows.find((r) => r.kind === 'condition');
      if (changed) throw new StreamChangedError(changed.stream_id, changed.expected!, changed.version);
      const stream = rows.find((r) => r.kind === 'stream')!;
      throw new VersionConflictError(append.stream_id, append.expected, stream.version);
    }
    const byId = new Map(inserted.map((r) => [r.event_id!, r]));
    return prepared.map((p): StoredEvent => {
      const row = byId.get(p.id)!;
      return {
        position: Number(row.position), event_id: p.id, stream_id: append.stream_id, stream_type: append.stream_type, version: row.version,
        type: p.event.type, schema_version: p.schemaVersion, data: p.event.data, metadata: p.metadata, created_at: row.created_at!,
      };
    });
  }

  /** What each of several command ids appended the first time, with the fingerprint it was stored with; ids never used are absent. */
  async commandResults(commandIds: readonly string[], client?: PoolClient): Promise<Map<string, { events: StoredEvent[]; fingerprint: string | null }>> {
    const out = new Map<string, { events: StoredEvent[]; fingerprint: string | null }>();
    if (commandIds.length === 0) return out;
    const { rows } = await (client ?? this.pool).query<EventRow & { command_id: string; request_hash: string | null }>({
      name: 'tmi_command_results',
      text: `select ${EVENT_COLUMNS_OF_E}, c.command_id, c.request_hash from command_results c join events e on e.event_id = any(c.event_ids)
             where c.command_id = any($1::text[]) order by e.position`,
      values: [commandIds],
    });
    for (const r of rows) {
      let entry = out.get(r.command_id);
      if (!entry) out.set(r.command_id, entry = { events: [], fingerprint: r.request_hash });
      entry.events.push(this.toStored(r));
    }
    return out;
  }

  /** The events of one stream, from a version on (inclusive), in version order, upcast. */
  async readStream(streamId: string, options: { fromVersion?: number; toVersion?: number; client?: PoolClient } = {}): Promise<StoredEvent[]> {
    const { rows } = await (options.client ?? this.pool).query<EventRow>({
      name: 'tmi_read_stream',
      text: `select ${EVENT_COLUMNS} from events where stream_id = $1 and version >= $2 and version <= $3 order by version`,
      values: [streamId, options.fromVersion ?? 1, options.toVersion ?? 2147483647],
    });
    return rows.map((r) => this.toStored(r));
  }

  /** The current version of a stream; 0 when it does not exist. */
  async streamVersion(streamId: string, client?: PoolClient): Promise<number> {
    return (await this.streamVersions([streamId], client))[0]!;
  }

  /** The current versions of several streams, in the order asked; 0 for one that does not exist. */
  async streamVersions(streamIds: readonly string[], client?: PoolClient): Promise<number[]> {
    const { rows } = await (client ?? this.pool).query<{ v: number }>({
      name: 'tmi_stream_versions',
      text: `select (select coalesce(max(e.version), 0) from events e where e.stream_id = s.id)::int as v
             from unnest($1::text[]) with ordinality as s(id, n) order by s.n`,
      values: [streamIds],
    });
    return rows.map((r) => r.v);
  }

  /** Events after a global position, in global order, never beyond the safe horizon. */
  async readAll(options: ReadAllOptions, client?: Queryable): Promise<ReadAllResult> {
    const filtered = options.types && options.types.length > 0;
    const { rows } = await (client ?? this.pool).query<EventRow & { horizon: number; head: number | null }>({
      name: filtered ? 'tmi_read_all_types' : 'tmi_read_all',
      text: `with h as (select ${SAFE_HORIZON_SQL} as horizon, (select max(position) from events) as head)
             select ${EVENT_COLUMNS}, h.horizon, h.head from h
             left join lateral (
               select * from events
               where position > $1 and position < h.horizon ${filtered ? 'and type = any($3::text[])' : ''}
               order by position limit $2
             ) e on true`,
      values: filtered ? [options.after, options.limit, options.types] : [options.after, options.limit],
    });
    const horizon = Number(rows[0]!.horizon);
    const events = rows.filter((r) => r.position !== null).map((r) => this.toStored(r));
    const settled = events.length < options.limit
      ? Math.max(options.after, settledThrough(horizon))
      : events[events.length - 1]!.position;
    return { events, settled_through: settled, unsettled: Number(rows[0]!.head ?? 0) > settled && events.length < options.limit };
  }

  /**
   * Every settled event after a position, in global order, in one streamed COPY (copy-read.ts),
   * handed to `onEvents` a chunk at a time; false from it stops the read. For reads of the whole
   * store (a rebuild's bulk phase), where a SELECT's per-row parsing is most of the cost.
   */
  async copyAll(options: CopyReadOptions, onEvents: (events: StoredEvent[]) => boolean | void): Promise<{ settled_through: number; stopped: boolean }> {
    return copyEventsAfter(this.pool, (r) => this.toStored(r), options, onEvents);
  }

  /** The highest position committed so far (not necessarily settled). */
  async headPosition(): Promise<number> {
    const { rows } = await this.pool.query<{ p: number | null }>('select max(position) as p from events');
    return Number(rows[0]!.p ?? 0);
  }

  /**
   * What a command id appended the first time, or null when it was never used. With a
   * fingerprint, an id first used with a different one throws CommandIdReusedError.
   */
  async commandResult(commandId: string, options: { fingerprint?: string | null; client?: PoolClient } = {}): Promise<AppendResult | null> {
    const found = (await this.commandResults([commandId], options.client)).get(commandId);
    if (!found) return null;
    if (options.fingerprint && found.fingerprint !== null && found.fingerprint !== options.fingerprint) throw new CommandIdReusedError(commandId);
    return summarize(found.events, true, [...new Set(found.events.map((e) => e.stream_id))]);
  }

  // Reads committed versions through the pool: a caller's transaction is aborted by the violation.
  private async conflictFromCurrent(appends: StreamAppend[]): Promise<VersionConflictError> {
    let first: VersionConflictError | null = null;
    for (const a of appends) {
      const err = new VersionConflictError(a.stream_id, a.expected, await this.streamVersion(a.stream_id));
      if (a.expected !== 'any' && encodeExpected(a.expected) !== err.actual) return err;
      first ??= err;
    }
    return first!;
  }

  private toStored(r: EventRow): StoredEvent {
    return storedEventOf(this.catalog, r);
  }

}

function decodeExpected(n: number): ExpectedVersion {
  return n === -1 ? 'any' : n === 0 ? 'no_stream' : n;
}

function summarize(events: StoredEvent[], replayed: boolean, streamOrder: string[]): AppendResult {
  const streams = streamOrder.map((stream_id) => {
    const own = events.filter((e) => e.stream_id === stream_id);
    return { stream_id, version: own[own.length - 1]?.version ?? 0, first_position: own[0]?.position ?? 0 };
  });
  return { position: events.reduce((m, e) => Math.max(m, e.position), 0), streams, events, replayed };
}

/** An `events` row as a StoredEvent, its data upcast to the type's current schema version. */
export function storedEventOf(catalog: EventCatalog, r: EventRow): StoredEvent {
  const { version, data } = catalog.upcast(r.type, r.schema_version, r.data);
  return {
    position: Number(r.position), event_id: r.event_id, stream_id: r.stream_id, stream_type: r.stream_type,
    version: r.version, type: r.type, schema_version: version, data, metadata: r.metadata, created_at: r.created_at,
  };
}
