import { evolveMetadata } from '../metadata/decide.js';
import { THREAT_MODEL_ENTITY, type ThreatModelEvent } from './events.js';
import type { Authorization, Metadata, User } from './values.js';

export interface ThreatModel {
  id: string;
  alias: number;
  name: string;
  description: string | null;
  threat_model_framework: string;
  issue_uri: string | null;
  project_id: string | null;
  status: string;
  status_updated: string | null;
  security_reviewer: User | null;
  is_confidential: boolean;
  owner: User;
  created_by: User;
  authorization: Authorization[];
  metadata: Metadata[];
  created_at: string;
  modified_at: string;
  deleted_at: string | null;
}

export type ThreatModelState = { exists: false } | ({ exists: true } & ThreatModel);

export const initialState = (): ThreatModelState => ({ exists: false });

/** Total: an event that does not fit the state (it never should) leaves the state as it is. */
export function evolve(state: ThreatModelState, event: ThreatModelEvent): ThreatModelState {
  if (event.type === 'ThreatModelCreated') {
    const d = event.data;
    return {
      exists: true,
      id: d.threat_model_id, alias: d.alias, name: d.name, description: d.description,
      threat_model_framework: d.threat_model_framework, issue_uri: d.issue_uri, project_id: d.project_id,
      status: d.status, status_updated: d.status_updated, security_reviewer: d.security_reviewer,
      is_confidential: d.is_confidential, owner: d.owner, created_by: d.created_by,
      authorization: d.authorization, metadata: [], created_at: d.created_at, modified_at: d.created_at, deleted_at: null,
    };
  }
  if (!state.exists) return state;
  switch (event.type) {
    case 'ThreatModelDetailsChanged': {
      const { threat_model_id: _id, modified_at, ...details } = event.data;
      return { ...state, ...details, modified_at };
    }
    case 'ThreatModelAccessChanged':
      return { ...state, owner: event.data.owner, authorization: event.data.authorization, modified_at: event.data.modified_at };
    case 'ThreatModelDeleted':
      return { ...state, deleted_at: event.data.deleted_at };
    case 'ThreatModelRestored':
      return { ...state, deleted_at: null, modified_at: event.data.restored_at };
    case 'MetadataEntriesSet':
    case 'MetadataEntriesRemoved':
      if (event.data.entity_type !== THREAT_MODEL_ENTITY) return state;
      return { ...state, metadata: evolveMetadata(state.metadata, event), modified_at: event.data.at };
  }
}
