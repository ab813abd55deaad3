import type { EventStore } from '../events/store.js';
import type { SnapshotKey } from '../events/snapshots.js';

/**
 * A decider's opt-in to snapshots (docs/architecture.md, "Snapshots"). Without one, every load
 * folds the whole stream.
 */
export interface SnapshotPolicy {
  /**
   * The version of the state's shape and of what `evolve` makes of each event. Bump it with any
   * change to either: snapshots written under another version are never read (and are deleted
   * by the stream's next snapshot write), so every stream is folded afresh once.
   */
  version: number;
  /** Write a snapshot after the append that takes the stream `every` or more events past the snapshot its decision was folded from. */
  every: number;
  /** Snapshots kept per stream (default 3); older ones serve `toVersion` reads below the newest. */
  keep?: number;
  /** Names the fold when one stream type is folded by more than one decider; the stream type otherwise. */
  name?: string;
}

interface SnapshotsOf { streamType: string; snapshot?: SnapshotPolicy }

export const snapshotKey = (decider: SnapshotsOf): SnapshotKey | null =>
  decider.snapshot ? { type: decider.snapshot.name ?? decider.streamType, version: decider.snapshot.version } : null;

/** Whether a stream folded from a snapshot at `from` (0: none) and now at `version` is due a new snapshot. */
export const snapshotDue = (policy: SnapshotPolicy, from: number, version: number): boolean => version - from >= policy.every;

/**
 * After an append: writes `state` as the snapshot at `version` when the policy says it is due,
 * in the background (null when none is due; the promise says whether it was saved, never
 * rejects). Callers pass a state that is exactly the fold of the stream's events up to
 * `version` — the state decided against plus the events appended at that exact expected version.
 */
export function snapshotAfterAppend(store: EventStore, decider: SnapshotsOf, streamId: string, from: number, state: unknown, version: number): Promise<boolean> | null {
  const key = snapshotKey(decider);
  if (!key || !snapshotDue(decider.snapshot!, from, version)) return null;
  return store.snapshots.save(streamId, key, version, state, decider.snapshot!.keep);
}
