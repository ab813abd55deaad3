import { childDecider } from './decide.js';
import type { ChildResource } from './definition.js';
import { childEventDefinitions } from './events.js';
import { childEvolver, initialChildState } from './state.js';

export * from './decide.js';
export * from './definition.js';
export * from './events.js';
export * from './state.js';

/** Everything the rest of the service needs of one kind of child: its decider (Emmett's shape) and its event definitions. */
export function childAggregate<F extends object>(resource: ChildResource<F>) {
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
