import type { EventDefinition } from '../../events/catalog.js';
import { childDecider, type ChildCommand } from './decide.js';
import type { ChildResource } from './definition.js';
import { childEventDefinitions, type ChildEvent } from './events.js';
import { childEvolver, initialChildState, type ChildState } from './state.js';

export * from './decide.js';
export * from './definition.js';
export * from './events.js';
export * from './state.js';

/** Everything the rest of the service needs of one kind of child: its decider (Emmett's shape) and its event definitions. */
export interface ChildAggregate<F extends object> {
  resource: ChildResource<F>;
  decider: {
    streamType: string;
    initialState(): ChildState<F>;
    evolve(state: ChildState<F>, event: ChildEvent): ChildState<F>;
    decide(command: ChildCommand, state: ChildState<F>): ChildEvent[];
    /** Snapshots of the kind's streams, for kinds whose streams grow long (a diagram's operations). */
    snapshot?: { version: number; every: number };
  };
  eventDefinitions: EventDefinition[];
}

export function childAggregate<F extends object>(resource: ChildResource<F>, options: { snapshot?: { version: number; every: number } } = {}): ChildAggregate<F> {
  return {
    resource,
    decider: {
      streamType: resource.kind,
      initialState: initialChildState<F>,
      evolve: childEvolver<F>(resource),
      decide: childDecider(resource),
      ...(options.snapshot ? { snapshot: options.snapshot } : {}),
    },
    eventDefinitions: childEventDefinitions(resource),
  };
}
