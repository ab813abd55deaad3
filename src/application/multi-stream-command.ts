import { VersionConflictError } from '../events/errors.js';
import type { EventStore } from '../events/store.js';
import type { AppendResult, EventMetadata, StreamAppend, StreamCondition } from '../events/types.js';
import type { Services } from '../services.js';
import { VERSION_CONFLICT_RETRIES, waitIfAsked, type CommandOptions } from './execute-command.js';

/** What a command over several streams decided: every append expects the version it was decided against. */
export interface MultiStreamDecision<R> {
  appends: StreamAppend[];
  /** Streams it relied on without appending to them (a parent's access list). */
  conditions?: StreamCondition[];
  /** What the command answers; built from the states it decided against. */
  result: R;
}

export interface MultiStreamOutcome<R> {
  result: R;
  /** Null when the command decided nothing needed to change. */
  appended: AppendResult | null;
}

export interface AppendAllOptions {
  metadata: EventMetadata;
  commandId?: string | null;
  commandFingerprint?: string | null;
  retries?: number;
}

/**
 * The load → decide → append loop for a command that touches several streams at once (an
 * ownership transfer over every threat model a user owns, an account deletion, a child and the
 * parent it relies on, a bulk of children): `decide` loads what it needs and names each stream
 * with the version it read; everything is appended in one atomic append. A racing writer on any
 * of those streams makes the whole command decide again against fresh state (`attempt` counts
 * the tries), so it is all-or-nothing and never decided against a stale stream.
 */
export async function decideAndAppendAll<R>(
  store: EventStore,
  decide: (attempt: number) => Promise<MultiStreamDecision<R>>,
  options: AppendAllOptions,
): Promise<MultiStreamOutcome<R>> {
  for (let attempt = 0; ; attempt++) {
    const decision = await decide(attempt);
    const appends = decision.appends.filter((a) => a.events.length > 0);
    if (appends.length === 0) return { result: decision.result, appended: null };
    try {
      const appended = await store.appendToStreams(appends, {
        metadata: options.metadata,
        command_id: options.commandId ?? null,
        command_fingerprint: options.commandFingerprint ?? null,
        ...(decision.conditions ? { conditions: decision.conditions } : {}),
      });
      return { result: decision.result, appended };
    } catch (err) {
      // Only a conflict raised by the append is a race to decide again; one the decision raised is the caller's answer.
      if (err instanceof VersionConflictError && attempt < (options.retries ?? VERSION_CONFLICT_RETRIES)) continue;
      throw err;
    }
  }
}

/** A command for `executePlannedCommand`: how to decide it, and how to answer a replay of it. */
export interface PlannedCommand<R> {
  decide(attempt: number): Promise<MultiStreamDecision<R>>;
  /** The answer to an idempotent replay: the outcome as of the events the command id appended the first time. */
  replay(original: AppendResult): Promise<R>;
}

export interface PlannedOutcome<R> {
  result: R;
  /** Global position of the last event appended (0 when none was). */
  position: number;
  replayed: boolean;
  /** Whether the projections showed the change before the answer (see CommandOutcome.caughtUp). */
  caughtUp: boolean;
}

export type PlannedOptions = Pick<CommandOptions, 'commandId' | 'commandFingerprint' | 'metadata' | 'projections' | 'alsoWake' | 'waitForProjections'> & {
  /** How often a racing writer makes it decide again (VERSION_CONFLICT_RETRIES unless told). */
  retries?: number;
};

/**
 * `executeCommand` for a command over several streams: an idempotency key used before answers
 * with the original outcome; otherwise decide and append everything at once, wake the
 * projections and (unless asked not to) wait for them.
 */
export async function executePlannedCommand<R>(services: Services, command: PlannedCommand<R>, options: PlannedOptions): Promise<PlannedOutcome<R>> {
  if (options.commandId) {
    const previous = await services.store.commandResult(options.commandId, { fingerprint: options.commandFingerprint ?? null });
    if (previous) {
      return { result: await command.replay(previous), position: previous.position, replayed: true, caughtUp: await waitIfAsked(services, options, previous.position) };
    }
  }
  const { result, appended } = await decideAndAppendAll(services.store, (attempt) => command.decide(attempt), options);
  if (!appended) return { result, position: 0, replayed: false, caughtUp: true };
  if (appended.replayed) {
    // Another request with the same key won the race: answer with its outcome, not ours.
    return { result: await command.replay(appended), position: appended.position, replayed: true, caughtUp: await waitIfAsked(services, options, appended.position) };
  }
  services.wakeups.wake([...options.projections, ...options.alsoWake ?? []]);
  return { result, position: appended.position, replayed: false, caughtUp: await waitIfAsked(services, options, appended.position) };
}
