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
  };
  eventDefinitions: EventDefinition[];
}

export function childAggregate<F extends object>(resource: ChildResource<F>): ChildAggregate<F> {
  return {
    resource,
    decider: {
      streamType: resource.kind,
      initialState: initialChildState<F>,
      evolve: childEvolver<F>(resource),
      decide: childDecider(resource),
    },
    eventDefinitions: childEventDefinitions(resource),
  };
}
