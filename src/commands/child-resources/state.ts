import { evolveMetadata } from '../metadata/decide.js';
import type { MetadataEvent } from '../metadata/events.js';
import type { Metadata } from '../threat-models/values.js';
import { childEventTypes, type ChildResource } from './definition.js';
import type { ChildChanged, ChildCreated, ChildDeleted, ChildEvent, ChildRestored } from './events.js';

export interface Child<F> {
  id: string;
  threat_model_id: string;
  alias: number;
  fields: F;
  metadata: Metadata[];
  auto_generated: boolean;
  created_at: string;
  modified_at: string;
  deleted_at: string | null;
}

export type ChildState<F> = { exists: false } | ({ exists: true } & Child<F>);

export const initialChildState = <F>(): ChildState<F> => ({ exists: false });

/** A child that exists under this threat model and is not deleted. */
export const isLiveChildOf = <F>(state: ChildState<F>, threatModelId: string): state is { exists: true } & Child<F> =>
  state.exists && state.threat_model_id === threatModelId && state.deleted_at === null;

/** The evolve function of one kind of child: total, and an event that does not fit (it never should) changes nothing. */
export function childEvolver<F extends object>(resource: Pick<ChildResource<F>, 'kind' | 'label' | 'fieldEvents'>) {
  const types = childEventTypes(resource.label);
  const own = new Set(resource.fieldEvents?.definitions.map((d) => d.type));
  return function evolve(state: ChildState<F>, event: ChildEvent): ChildState<F> {
    if (event.type === types.created) {
      const d = event.data as ChildCreated<F>;
      return {
        exists: true, id: d.id, threat_model_id: d.threat_model_id, alias: d.alias, fields: d.fields, metadata: [],
        auto_generated: d.auto_generated, created_at: d.created_at, modified_at: d.created_at, deleted_at: null,
      };
    }
    if (!state.exists) return state;
    switch (event.type) {
      case types.changed: {
        const d = event.data as ChildChanged<F>;
        return { ...state, fields: d.fields, modified_at: d.modified_at };
      }
      case types.deleted:
        return { ...state, deleted_at: (event.data as ChildDeleted).deleted_at };
      case types.restored:
        return { ...state, deleted_at: null, modified_at: (event.data as ChildRestored).restored_at };
      case 'MetadataEntriesSet':
      case 'MetadataEntriesRemoved': {
        const m = event as MetadataEvent;
        if (m.data.entity_type !== resource.kind) return state;
        return { ...state, metadata: evolveMetadata(state.metadata, m), modified_at: m.data.at };
      }
      default:
        if (!own.has(event.type)) return state;
        return { ...state, fields: resource.fieldEvents!.apply(state.fields, event), modified_at: (event.data as { modified_at: string }).modified_at };
    }
  };
}
