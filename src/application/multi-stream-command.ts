import { VersionConflictError } from '../events/errors.js';
import type { EventStore } from '../events/store.js';
import type { AppendResult, EventMetadata, StreamAppend, StreamCondition } from '../events/types.js';

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

const CONFLICT_RETRIES = 3;

/**
 * The load → decide → append loop for a command that touches several streams at once (an
 * ownership transfer over every threat model a user owns, an account deletion, a bulk of
 * children): `decide` loads what it needs and names each stream with the version it read;
 * everything is appended in one atomic append. A racing writer on any of those streams makes
 * the whole command decide again against fresh state, so it is all-or-nothing and never
 * decided against a stale stream.
 */
export async function decideAndAppendAll<R>(
  store: EventStore,
  decide: () => Promise<MultiStreamDecision<R>>,
  options: { metadata: EventMetadata; commandId?: string | null; retries?: number },
): Promise<MultiStreamOutcome<R>> {
  for (let attempt = 0; ; attempt++) {
    const decision = await decide();
    const appends = decision.appends.filter((a) => a.events.length > 0);
    if (appends.length === 0) return { result: decision.result, appended: null };
    try {
      const appended = await store.appendToStreams(appends, {
        metadata: options.metadata,
        command_id: options.commandId ?? null,
        ...(decision.conditions ? { conditions: decision.conditions } : {}),
      });
      return { result: decision.result, appended };
    } catch (err) {
      // Only a conflict raised by the append is a race to decide again; one the decision raised is the caller's answer.
      if (err instanceof VersionConflictError && attempt < (options.retries ?? CONFLICT_RETRIES)) continue;
      throw err;
    }
  }
}
