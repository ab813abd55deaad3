import { expect } from 'vitest';
import { DomainError, type DomainErrorKind } from '../../src/commands/errors.js';

/** The pure part of an aggregate, as every decider in src/commands has it. */
export interface PureDecider<S, C, E> {
  initialState(): S;
  evolve(state: S, event: E): S;
  decide(command: C, state: S): E[];
}

/**
 * given(events) → when(command) → then(events) / thenRefused(kind), for any decider: the
 * Emmett-style specification every aggregate's tests use.
 */
export function specification<S, C, E>(decider: PureDecider<S, C, E>) {
  return function given(...history: E[]) {
    const state = history.reduce(decider.evolve, decider.initialState());
    return {
      state,
      when(command: C) {
        const run = () => decider.decide(command, state);
        return {
          events: run,
          then: (expected: unknown) => expect(run()).toEqual(expected),
          thenNothing: () => expect(run()).toEqual([]),
          thenRefused(kind: DomainErrorKind, message?: RegExp) {
            let error: unknown;
            try { run(); } catch (err) { error = err; }
            expect(error, 'the command was not refused').toBeInstanceOf(DomainError);
            expect((error as DomainError).kind).toBe(kind);
            if (message) expect((error as DomainError).message).toMatch(message);
          },
          /** The state after the command's events. */
          after: () => run().reduce(decider.evolve, state),
        };
      },
    };
  };
}
