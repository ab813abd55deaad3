import { VersionConflictError } from '../events/errors.js';
import type { EventStore } from '../events/store.js';
import type { EventMetadata, NewEvent, StoredEvent, StreamCondition } from '../events/types.js';
import type { Services } from '../services.js';
import { commandOutcomes, failedOutcome } from './command-metrics.js';
import { snapshotAfterAppend, snapshotKey, type SnapshotPolicy } from './snapshots.js';

/** An event-sourced aggregate in the Decider style: the pure part of a command. */
export interface Decider<State, Command, Event extends NewEvent> {
  streamType: string;
  initialState(): State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): Event[];
  /** Opt-in snapshots, so loads read a snapshot plus the events after it (application/snapshots.ts). */
  snapshot?: SnapshotPolicy;
}

export interface CommandOptions {
  streamId: string;
  /**
   * The stream id was drawn fresh for this command (a create): there is nothing to read, so the
   * first attempt skips loading it. Should it exist after all, the append's `no_stream` check
   * fails and the retry decides against what is there.
   */
  newStream?: boolean;
  /** The version the caller saw (If-Match); null when they gave none and any current version will do. */
  expectedVersion: number | null;
  /** Idempotency key: a retried command returns the original outcome and appends nothing. */
  commandId: string | null;
  /**
   * A hash of the request the idempotency key came with: the key reused for another request is
   * refused (CommandIdReusedError, 422) rather than answered with the first request's outcome.
   */
  commandFingerprint?: string | null;
  metadata: EventMetadata;
  /** Projections serving the resource: woken after the append, and awaited for read-your-writes. */
  projections: readonly string[];
  /** Projections that also show the change but the answer does not wait for (the audit trail): woken only. */
  alsoWake?: readonly string[];
  /** False for `Prefer: respond-async`: answer as soon as the events are committed. */
  waitForProjections: boolean;
}

export interface CommandOutcome<State> {
  /** State after the command, built from the stream (never from a read table). */
  state: State;
  /** Stream version after the command: the resource's `version` and ETag. */
  version: number;
  /** Global position of the last event this command appended (0 when it appended nothing). */
  position: number;
  events: StoredEvent[];
  /**
   * Whether the projections reached `position` before the answer (always true when nothing was
   * appended). False — the caller asked not to wait, the wait timed out, or a projection it
   * waited for is halted — is answered 202 Accepted: committed, not yet readable.
   */
  caughtUp: boolean;
  /** True when the command id was seen before and the original events were returned. */
  replayed: boolean;
}

/**
 * How often a command is decided again when another writer appended to its stream first (a
 * version conflict) and the caller named no expected version: the next attempt decides on the
 * newer state. Not the same as a transaction conflict (deadlock, serialization failure), which
 * the database layer retries (TRANSACTION_CONFLICT_RETRIES).
 */
export const VERSION_CONFLICT_RETRIES = 3;

export interface LoadedAggregate<S> {
  state: S;
  version: number;
  /** Events read and folded (after the snapshot, when one was used). */
  eventsRead: number;
  /** Stream version of the snapshot the fold started from; 0 when it started from the beginning. */
  snapshotVersion: number;
}

/**
 * An aggregate's current state and stream version (or as it was at `toVersion`); child
 * resources use it to read their parent's access list. One round trip: the newest snapshot
 * at or below the version (when the decider takes snapshots) and the events after it.
 */
export async function loadAggregate<S, C, E extends NewEvent>(
  services: Pick<Services, 'store'>, decider: Decider<S, C, E>, streamId: string, options: { toVersion?: number } = {},
): Promise<LoadedAggregate<S>> {
  const { snapshot, events } = await services.store.snapshots.readStream(streamId, { key: snapshotKey(decider), ...options });
  const { state, version } = foldEvents(decider, events, snapshot ? { state: snapshot.state as S, version: snapshot.version } : undefined);
  return { state, version, eventsRead: events.length, snapshotVersion: snapshot?.version ?? 0 };
}

/**
 * A stream's events (in version order) folded with the decider's own `evolve`, from its initial
 * state or from a snapshot: the one fold every read of an aggregate's state goes through.
 */
export function foldEvents<S, E extends NewEvent>(
  decider: Pick<Decider<S, never, E>, 'initialState' | 'evolve'>, events: readonly StoredEvent[], from?: { state: S; version: number },
): { state: S; version: number } {
  // A snapshot's state is taken as it is: one that lost its state must fail the fold, not pass for a new stream's.
  const state = events.reduce((s, e) => decider.evolve(s, { type: e.type, data: e.data } as E), from ? from.state : decider.initialState());
  return { state, version: events.at(-1)?.version ?? from?.version ?? 0 };
}

export interface DecideOptions<S> extends Pick<CommandOptions, 'streamId' | 'newStream' | 'expectedVersion' | 'commandId' | 'commandFingerprint'> {
  /** A function when the metadata depends on the state decided against (an actor known only from the stream). */
  metadata: EventMetadata | ((state: S) => EventMetadata);
  /** How often a racing writer's conflict is decided again (only without an expected version). */
  retries?: number;
  /** Other streams the decision relied on: the append fails (StreamChangedError, a conflict) if one changed since. */
  conditions?: readonly StreamCondition[];
}

export type Decided<S> = Omit<CommandOutcome<S>, 'caughtUp'>;

/**
 * The one load → decide → append loop every aggregate goes through: the append expects the
 * version decided against. Without an expected version a racing writer's conflict is decided
 * again against the fresh state; with one it surfaces as VersionConflictError (409).
 */
export async function decideAndAppend<S, C, E extends NewEvent>(
  store: EventStore,
  decider: Decider<S, C, E>,
  command: C,
  options: DecideOptions<S>,
): Promise<Decided<S>> {
  for (let attempt = 0; ; attempt++) {
    const { state, version, snapshotVersion } = attempt === 0 && options.newStream
      ? { state: decider.initialState(), version: 0, snapshotVersion: 0 }
      : await loadAggregate({ store }, decider, options.streamId);
    // Decide first: a caller who may not see the resource learns nothing from a version mismatch.
    const decided = decider.decide(command, state);
    if (options.expectedVersion !== null && options.expectedVersion !== version) {
      throw new VersionConflictError(options.streamId, options.expectedVersion, version);
    }
    if (decided.length === 0) return { state, version, position: 0, events: [], replayed: false };
    const metadata = typeof options.metadata === 'function' ? options.metadata(state) : options.metadata;
    try {
      const result = await store.appendToStream(
        { stream_id: options.streamId, stream_type: decider.streamType, expected: version === 0 ? 'no_stream' : version, events: decided },
        { metadata, command_id: options.commandId, command_fingerprint: options.commandFingerprint ?? null, ...(options.conditions ? { conditions: options.conditions } : {}) },
      );
      const after = { state: decided.reduce(decider.evolve, state), version: result.streams[0]?.version ?? version + decided.length };
      if (!result.replayed) void snapshotAfterAppend(store, decider, options.streamId, snapshotVersion, after.state, after.version);
      return {
        ...after,
        position: result.position,
        events: result.events,
        replayed: result.replayed,
      };
    } catch (err) {
      if (err instanceof VersionConflictError && options.expectedVersion === null && attempt < (options.retries ?? VERSION_CONFLICT_RETRIES)) continue;
      throw err;
    }
  }
}

/**
 * Runs one command end to end: an idempotency key seen before with the same request answers
 * with its original events (with another request it is refused); otherwise decide and append
 * (decideAndAppend), wake the projections and (unless asked not to) wait until they have
 * reached the new events.
 */
export async function executeCommand<S, C, E extends NewEvent>(
  services: Services,
  decider: Decider<S, C, E>,
  command: C,
  options: CommandOptions,
): Promise<CommandOutcome<S>> {
  const counted = commandOutcomes(services.metrics);
  try {
    const outcome = await runCommand(services, decider, command, options);
    counted.inc({ stream_type: decider.streamType, outcome: outcome.replayed ? 'replayed' : outcome.events.length === 0 ? 'unchanged' : 'accepted' });
    return outcome;
  } catch (err) {
    counted.inc({ stream_type: decider.streamType, outcome: failedOutcome(err) });
    throw err;
  }
}

async function runCommand<S, C, E extends NewEvent>(
  services: Services,
  decider: Decider<S, C, E>,
  command: C,
  options: CommandOptions,
): Promise<CommandOutcome<S>> {
  if (options.commandId) {
    const previous = await services.store.commandResult(options.commandId, { fingerprint: options.commandFingerprint ?? null });
    if (previous) {
      // The original command may have named another stream (a create draws a fresh id each time).
      // Its outcome is answered as it was: the stream may since have changed in ways the caller may no longer see.
      const streamId = previous.events[0]!.stream_id;
      const toVersion = Math.max(...previous.events.filter((e) => e.stream_id === streamId).map((e) => e.version));
      const { state, version } = await loadAggregate(services, decider, streamId, { toVersion });
      return { state, version, position: previous.position, events: previous.events, caughtUp: await waitIfAsked(services, options, previous.position), replayed: true };
    }
  }
  const outcome = await decideAndAppend(services.store, decider, command, options);
  if (outcome.events.length === 0) return { ...outcome, caughtUp: true };
  services.wakeups.wake([...options.projections, ...options.alsoWake ?? []]);
  return { ...outcome, caughtUp: await waitIfAsked(services, options, outcome.position) };
}

/** True once the projections have reached `position`; false without waiting when the caller asked not to wait. */
export async function waitIfAsked(services: Services, options: Pick<CommandOptions, 'waitForProjections' | 'projections'>, position: number): Promise<boolean> {
  if (!options.waitForProjections) return false;
  return services.progress.waitFor(options.projections, position, services.config.server.read_your_writes_timeout_ms);
}

/**
 * For queries: waits (bounded) until the projections serving them have reached a position the
 * caller saw. False when they did not (timed out, or one is halted: then the others are still
 * waited for, not the halted one); the query answers from what the read tables hold.
 */
export async function awaitPosition(services: Services, projections: readonly string[], position: number | null): Promise<boolean> {
  if (position === null || position <= 0) return true;
  return services.progress.waitFor(projections, position, services.config.server.read_your_writes_timeout_ms, { halted: 'skip' });
}
