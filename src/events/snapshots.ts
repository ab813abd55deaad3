import type { Pool, QueryResultRow } from 'pg';
import { Counter, type Registry } from 'prom-client';
import type { EventCatalog } from './catalog.js';
import type { EventMetadata, StoredEvent } from './types.js';

/** Names the fold a snapshot holds: a decider's state type and the version of its state schema. */
export interface SnapshotKey {
  type: string;
  version: number;
}

export interface Snapshot {
  /** Stream version the state is as of. */
  version: number;
  state: unknown;
}

export interface StreamFromSnapshot {
  /** The newest usable snapshot at or below the version asked for; null to fold from the start. */
  snapshot: Snapshot | null;
  /** The stream's events after the snapshot (all of them without one), in version order, upcast. */
  events: StoredEvent[];
}

/** What the aggregate load path has read so far, for metrics and for tests that bound it. */
export interface AggregateReadStats {
  loads: number;
  /** Events returned to be folded (never the ones a snapshot stood in for). */
  eventsRead: number;
  /** Loads that started from a snapshot. */
  fromSnapshot: number;
  snapshotsWritten: number;
  /** Snapshot writes that failed; harmless (the next load folds from further back) but worth watching. */
  snapshotWriteFailures: number;
}

/** Snapshots a stream keeps of one fold; older ones (and any of another state version) are deleted on write. */
export const DEFAULT_SNAPSHOTS_KEPT = 3;

interface Row extends QueryResultRow {
  kind: 'snapshot' | 'event';
  position: number | null;
  event_id: string | null;
  stream_type: string | null;
  version: number;
  type: string | null;
  schema_version: number | null;
  data: unknown;
  metadata: EventMetadata | null;
  created_at: Date | null;
}

// One round trip: the newest snapshot of this fold at or below the version, and the events after it.
// Without a key ($2, $3 null) no snapshot matches and this is a plain stream read.
const READ_SQL = `
with snap as (
  select version, state from snapshots
  where stream_id = $1 and state_type = $2 and state_version = $3 and version <= $4
  order by version desc limit 1
)
select 'snapshot' as kind, null::bigint as position, null::uuid as event_id, null::text as stream_type, version,
       null::text as type, null::int as schema_version, state as data, null::jsonb as metadata, null::timestamptz as created_at
from snap
union all
select 'event', e.position, e.event_id, e.stream_type, e.version, e.type, e.schema_version, e.data, e.metadata, e.created_at
from events e
where e.stream_id = $1 and e.version > coalesce((select version from snap), 0) and e.version <= $4
order by version`;

// Writes one snapshot and, in the same statement, drops what the stream no longer needs: snapshots
// of other state versions (unreadable by this code) and all but the newest ones of this fold.
const SAVE_SQL = `
with saved as (
  insert into snapshots (stream_id, state_type, state_version, version, state)
  values ($1, $2, $3, $4, $5::jsonb)
  on conflict do nothing
  returning version
)
delete from snapshots s
where s.stream_id = $1 and s.state_type = $2 and s.version < $4
  and (s.state_version <> $3 or s.version not in (
    select version from snapshots where stream_id = $1 and state_type = $2 and state_version = $3
    order by version desc limit greatest($6::int - 1, 0)))`;

/**
 * Aggregate snapshots: a cache of folded state next to the events, so loading an aggregate
 * reads the newest snapshot plus the events after it instead of the whole stream. A snapshot
 * is never a source of truth: a missing one, or one written by code with another state
 * version, just means folding from further back. Writes happen in the background and never
 * fail a command.
 */
export class SnapshotStore {
  readonly stats: AggregateReadStats = { loads: 0, eventsRead: 0, fromSnapshot: 0, snapshotsWritten: 0, snapshotWriteFailures: 0 };
  private readonly writes = new Set<Promise<boolean>>();

  constructor(private readonly pool: Pool, private readonly catalog: EventCatalog) {}

  /** The stream (up to `toVersion`) as the newest usable snapshot of `key` plus the events after it; `key` null reads the whole stream. */
  async readStream(streamId: string, options: { key: SnapshotKey | null; toVersion?: number }): Promise<StreamFromSnapshot> {
    const { rows } = await this.pool.query<Row>({
      name: 'tmi_read_stream_from_snapshot',
      text: READ_SQL,
      values: [streamId, options.key?.type ?? null, options.key?.version ?? null, options.toVersion ?? 2147483647],
    });
    let snapshot: Snapshot | null = null;
    const events: StoredEvent[] = [];
    for (const r of rows) {
      if (r.kind === 'snapshot') {
        snapshot = { version: r.version, state: r.data };
        continue;
      }
      const { version, data } = this.catalog.upcast(r.type!, r.schema_version!, r.data);
      events.push({
        position: Number(r.position), event_id: r.event_id!, stream_id: streamId, stream_type: r.stream_type!,
        version: r.version, type: r.type!, schema_version: version, data, metadata: r.metadata!, created_at: r.created_at!,
      });
    }
    this.stats.loads++;
    this.stats.eventsRead += events.length;
    if (snapshot) this.stats.fromSnapshot++;
    return { snapshot, events };
  }

  /**
   * Records `state` as the fold of `key` at stream `version`, in the background. The caller
   * guarantees the state is exactly the fold of events 1..version (an append at an exact
   * expected version). Failures are counted, never thrown: the promise says whether it was saved
   * (a caller that tracks its last snapshot moves it only then).
   */
  save(streamId: string, key: SnapshotKey, version: number, state: unknown, keep = DEFAULT_SNAPSHOTS_KEPT): Promise<boolean> {
    // Even encoding happens inside the promise: a state that cannot be stored fails the snapshot, never the command.
    const write: Promise<boolean> = Promise.resolve()
      .then(() => this.pool.query(SAVE_SQL, [streamId, key.type, key.version, version, JSON.stringify(state), keep]))
      .then(() => { this.stats.snapshotsWritten++; return true; }, () => { this.stats.snapshotWriteFailures++; return false; })
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
    return write;
  }

  /** Resolves once the snapshot writes started so far have finished (shutdown; tests that count reads). */
  async idle(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }
}

/** The load path's counters as Prometheus counters: events read per load show whether snapshots keep up. */
export function registerAggregateReadMetrics(registry: Registry, snapshots: SnapshotStore): void {
  const counter = (name: string, help: string, value: (s: AggregateReadStats) => number) => {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = value(snapshots.stats);
        this.inc(now - reported);
        reported = now;
      },
    });
  };
  counter('tmi_aggregate_loads_total', 'Aggregate loads (commands, /me, grants)', (s) => s.loads);
  counter('tmi_aggregate_events_read_total', 'Events read and folded by aggregate loads (after their snapshot)', (s) => s.eventsRead);
  counter('tmi_aggregate_loads_from_snapshot_total', 'Aggregate loads that started from a snapshot', (s) => s.fromSnapshot);
  counter('tmi_snapshots_written_total', 'Snapshots written', (s) => s.snapshotsWritten);
  counter('tmi_snapshot_write_failures_total', 'Snapshot writes that failed (the next load folds from further back)', (s) => s.snapshotWriteFailures);
}
