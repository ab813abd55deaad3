import type { ThreatModel } from '../../commands/threat-models/state.js';
import type { Counts } from '../../queries/threat-models.js';
import { compact } from './compact.js';

/** TMI's ThreatModel body, from domain state (after a command) or a read row (for a query). */
export function threatModelBody(tm: ThreatModel, version: number) {
  return compact({
    id: tm.id,
    alias: tm.alias,
    name: tm.name,
    description: tm.description,
    owner: tm.owner,
    created_by: tm.created_by,
    threat_model_framework: tm.threat_model_framework,
    authorization: tm.authorization,
    metadata: tm.metadata,
    issue_uri: tm.issue_uri,
    status: tm.status,
    status_updated: tm.status_updated,
    security_reviewer: tm.security_reviewer,
    project_id: tm.project_id,
    is_confidential: tm.is_confidential,
    created_at: tm.created_at,
    modified_at: tm.modified_at,
    deleted_at: tm.deleted_at,
    version,
  });
}

/** TMI's TMListItem: the list fields plus the cached child counts. */
export function listItemBody(tm: ThreatModel, counts: Counts) {
  return compact({
    id: tm.id,
    alias: tm.alias,
    name: tm.name,
    description: tm.description,
    created_at: tm.created_at,
    modified_at: tm.modified_at,
    owner: tm.owner,
    created_by: tm.created_by,
    threat_model_framework: tm.threat_model_framework,
    ...counts,
    issue_uri: tm.issue_uri,
    status: tm.status,
    status_updated: tm.status_updated,
    security_reviewer: tm.security_reviewer,
    deleted_at: tm.deleted_at,
  });
}
