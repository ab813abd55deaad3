import type { PoolClient } from 'pg';
import type { MetadataEvent } from '../commands/metadata/events.js';
import { THREAT_MODEL_ENTITY, threatModelEventDefinitions, type ThreatModelEvent } from '../commands/threat-models/events.js';
import { roleAtLeast, subjectKey, subjectOf } from '../commands/threat-models/authorization.js';
import type { Authorization } from '../commands/threat-models/values.js';
import type { StoredEvent } from '../events/types.js';
import type { Projection } from './projection.js';

export const THREAT_MODELS_PROJECTION = 'threat_models';

export const COUNT_COLUMNS = ['document_count', 'repo_count', 'diagram_count', 'threat_count', 'asset_count', 'note_count'] as const;
export type CountColumn = (typeof COUNT_COLUMNS)[number];

/**
 * How a child resource's event moves a cached count on its threat model: which column, and by
 * how much, computed from the event's data — a bulk create of n children moves it by n, a bulk
 * delete by -n. The event's data must carry `threat_model_id`.
 */
export interface ChildCountRule<Data = unknown> {
  column: CountColumn;
  /** A whole number; 0 leaves the count alone. */
  delta(data: Data): number;
}

/**
 * The count rules of all child resources, by event type. Each child resource (threats,
 * diagrams, documents, ...) declares the rules of its created / deleted / restored / bulk events
 * and they are merged here. Changing the rules changes what the counts should be, so `version`
 * goes up with every change: it is part of the projection's version, and a new version rebuilds
 * the counts from the first event.
 */
export interface ChildCountRules {
  version: number;
  rules: Readonly<Record<string, ChildCountRule>>;
}


// 2: counts are no longer clamped at zero; a count that would go negative fails the apply.
// 3: threat_model_readers, the list's index, kept beside the rows.
// 4: its subjects folded by the domain's rule, not PostgreSQL's lower().
const OWN_VERSION = 4;

/**
 * After a statement `t` (an insert or update of threat_models returning id, modified_at and
 * deleted_at): the model's rows in threat_model_readers, one per subject its authorization
 * names (keyed like threat_model_access), so the list pages by an index. The subjects are
 * folded here, by the domain's rule (`subjectOf`), and passed as arrays from parameter `first` on.
 */
const insertReadersFromT = (first: number) => `
  insert into threat_model_readers (threat_model_id, principal_type, provider, subject, role, modified_at, deleted_at)
  select t.id, r.principal_type, r.provider, r.subject, r.role, t.modified_at, t.deleted_at
  from t, unnest($${first}::text[], $${first + 1}::text[], $${first + 2}::text[], $${first + 3}::text[]) as r(principal_type, provider, subject, role)`;

/** The parameters of `insertReadersFromT`: one row per subject (an entry repeated under the domain's fold keeps its highest role). */
function readerParams(authorization: readonly Authorization[]): string[][] {
  const bySubject = new Map<string, Authorization>();
  for (const e of authorization) {
    const key = subjectKey(e);
    const seen = bySubject.get(key);
    if (!seen || roleAtLeast(e.role, seen.role)) bySubject.set(key, e);
  }
  const rows = [...bySubject.values()];
  return [rows.map((e) => e.principal_type), rows.map((e) => e.provider), rows.map((e) => subjectOf(e)), rows.map((e) => e.role)];
}
/** After a statement `t` that changed a model's modification time or deletion: the same on its readers' rows. */
const TOUCH_READERS_FROM_T = `
  update threat_model_readers r set modified_at = t.modified_at, deleted_at = t.deleted_at from t where r.threat_model_id = t.id`;
const RETURNING = 'returning id, modified_at, deleted_at';

const ownEventTypes = [...threatModelEventDefinitions.map((d) => d.type), 'MetadataEntriesSet', 'MetadataEntriesRemoved'];

async function applyOwn(event: StoredEvent, client: PoolClient): Promise<void> {
  const e = { type: event.type, data: event.data } as ThreatModelEvent;
  switch (e.type) {
    case 'ThreatModelCreated': {
      const d = e.data;
      await client.query(
        `with t as (insert into threat_models (id, alias, name, description, threat_model_framework, issue_uri, project_id, status, status_updated,
           security_reviewer, is_confidential, owner, created_by, "authorization", version, created_at, modified_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) ${RETURNING}) ${insertReadersFromT(17)}`,
        [d.threat_model_id, d.alias, d.name, d.description, d.threat_model_framework, d.issue_uri, d.project_id, d.status, d.status_updated,
          d.security_reviewer && JSON.stringify(d.security_reviewer), d.is_confidential, JSON.stringify(d.owner), JSON.stringify(d.created_by),
          JSON.stringify(d.authorization), event.version, d.created_at, ...readerParams(d.authorization)]);
      return;
    }
    case 'ThreatModelDetailsChanged': {
      const d = e.data;
      await client.query(
        `with t as (update threat_models set name = $2, description = $3, threat_model_framework = $4, issue_uri = $5, project_id = $6, status = $7,
           status_updated = $8, security_reviewer = $9, version = $10, modified_at = $11 where id = $1 ${RETURNING}) ${TOUCH_READERS_FROM_T}`,
        [d.threat_model_id, d.name, d.description, d.threat_model_framework, d.issue_uri, d.project_id, d.status, d.status_updated,
          d.security_reviewer && JSON.stringify(d.security_reviewer), event.version, d.modified_at]);
      return;
    }
    case 'ThreatModelAccessChanged':
      // The readers' rows are replaced whole: entries may have gone, and one statement cannot delete and re-insert the same rows.
      await client.query('delete from threat_model_readers where threat_model_id = $1', [e.data.threat_model_id]);
      await client.query(`with t as (update threat_models set owner = $2, "authorization" = $3, version = $4, modified_at = $5 where id = $1 ${RETURNING}) ${insertReadersFromT(6)}`,
        [e.data.threat_model_id, JSON.stringify(e.data.owner), JSON.stringify(e.data.authorization), event.version, e.data.modified_at, ...readerParams(e.data.authorization)]);
      return;
    case 'ThreatModelDeleted':
      await client.query(`with t as (update threat_models set deleted_at = $2, version = $3 where id = $1 ${RETURNING}) ${TOUCH_READERS_FROM_T}`,
        [e.data.threat_model_id, e.data.deleted_at, event.version]);
      return;
    case 'ThreatModelRestored':
      await client.query(`with t as (update threat_models set deleted_at = null, version = $2, modified_at = $3 where id = $1 ${RETURNING}) ${TOUCH_READERS_FROM_T}`,
        [e.data.threat_model_id, event.version, e.data.restored_at]);
      return;
    case 'MetadataEntriesSet':
    case 'MetadataEntriesRemoved': {
      const m = (e as MetadataEvent).data;
      // Metadata lives in its own projection; here it only moves the threat model's version and modification time.
      if (m.entity_type !== THREAT_MODEL_ENTITY) return;
      await client.query(`with t as (update threat_models set version = $2, modified_at = $3 where id = $1 ${RETURNING}) ${TOUCH_READERS_FROM_T}`,
        [m.entity_id, event.version, m.at]);
      return;
    }
  }
}

/**
 * Moves a count by an event's delta. Nothing is clamped: a count that would go below zero (an
 * event applied twice, a wrong delta) violates the table's check constraint, and a count on a
 * threat model the table does not have is refused too, so the event is dead-lettered and the
 * projection halts where the bug shows instead of serving a count that is quietly wrong.
 */
async function applyCount(event: StoredEvent, rule: ChildCountRule, client: PoolClient): Promise<void> {
  const { threat_model_id } = event.data as { threat_model_id?: unknown };
  if (typeof threat_model_id !== 'string') throw new Error(`${event.type} carries no threat_model_id`);
  const delta = rule.delta(event.data);
  if (!Number.isSafeInteger(delta)) throw new Error(`${event.type} gives ${rule.column} a delta of ${delta}, not a whole number`);
  if (delta === 0) return;
  const { rowCount } = await client.query(`update threat_models set ${rule.column} = ${rule.column} + $2 where id = $1`, [threat_model_id, delta]);
  if (rowCount === 0) throw new Error(`${event.type} moves ${rule.column} of threat model ${threat_model_id}, which has no row`);
}

/** The threat models list and detail table, with the six cached child counts and the deleted flag. */
export function createThreatModelsProjection(countRules: ChildCountRules): Projection {
  return {
    name: THREAT_MODELS_PROJECTION,
    // Both parts only ever go up, so the sum changes whenever either does.
    version: OWN_VERSION + countRules.version,
    handles: [...ownEventTypes, ...Object.keys(countRules.rules)],
    tables: ['threat_models', 'threat_model_readers'],
    onPoison: 'halt',
    async apply(event, client) {
      const rule = countRules.rules[event.type];
      return rule ? applyCount(event, rule, client) : applyOwn(event, client);
    },
  };
}
