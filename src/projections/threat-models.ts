import type { PoolClient } from 'pg';
import type { MetadataEvent } from '../commands/metadata/events.js';
import { THREAT_MODEL_ENTITY, threatModelEventDefinitions, type ThreatModelEvent } from '../commands/threat-models/events.js';
import { roleAtLeast, subjectKey, subjectOf } from '../commands/threat-models/authorization.js';
import type { Authorization } from '../commands/threat-models/values.js';
import type { StoredEvent } from '../events/types.js';
import { KeyedRows, type BulkFold, type BulkRow } from './bulk.js';
import { rowSql } from './row-sql.js';
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

/** The model's rows in threat_model_readers: one per subject (an entry repeated under the domain's fold keeps its highest role). */
function readerEntries(authorization: readonly Authorization[]): Authorization[] {
  const bySubject = new Map<string, Authorization>();
  for (const e of authorization) {
    const key = subjectKey(e);
    const seen = bySubject.get(key);
    if (!seen || roleAtLeast(e.role, seen.role)) bySubject.set(key, e);
  }
  return [...bySubject.values()];
}

/** The parameters of `insertReadersFromT`. */
function readerParams(authorization: readonly Authorization[]): string[][] {
  const rows = readerEntries(authorization);
  return [rows.map((e) => e.principal_type), rows.map((e) => e.provider), rows.map((e) => subjectOf(e)), rows.map((e) => e.role)];
}
/** After a statement `t` that changed a model's modification time or deletion: the same on its readers' rows. */
const TOUCH_READERS_FROM_T = `
  update threat_model_readers r set modified_at = t.modified_at, deleted_at = t.deleted_at from t where r.threat_model_id = t.id`;
const RETURNING = 'returning id, modified_at, deleted_at';

const ownEventTypes = [...threatModelEventDefinitions.map((d) => d.type), 'MetadataEntriesSet', 'MetadataEntriesRemoved'];

type Counts = Record<CountColumn, number>;
/** A threat model's row (its readers' rows follow from its authorization, modification time and deletion). */
interface ThreatModelRow extends BulkRow, Counts {
  id: string; alias: number; name: string; description?: string | null; threat_model_framework: string; issue_uri?: string | null; project_id?: string | null;
  status?: string | null; status_updated?: string | null; security_reviewer?: unknown; is_confidential?: boolean; owner: unknown; created_by: unknown;
  authorization: Authorization[]; version: number; created_at: string; modified_at: string; deleted_at: string | null;
}

/**
 * What a threat model's own event does to its row: the one computation of both the per-event
 * apply and the bulk fold. `access` marks a change of its authorization (its readers are replaced).
 * A change of a model the table does not have changes nothing.
 */
type OwnChange = { insert: ThreatModelRow } | { id: string; set: Partial<ThreatModelRow>; access?: true } | null;

function ownChange(event: StoredEvent): OwnChange {
  const e = { type: event.type, data: event.data } as ThreatModelEvent;
  switch (e.type) {
    case 'ThreatModelCreated': {
      const d = e.data;
      return { insert: { id: d.threat_model_id, alias: d.alias, name: d.name, description: d.description, threat_model_framework: d.threat_model_framework,
        issue_uri: d.issue_uri, project_id: d.project_id, status: d.status, status_updated: d.status_updated, security_reviewer: d.security_reviewer,
        is_confidential: d.is_confidential, owner: d.owner, created_by: d.created_by, authorization: d.authorization, version: event.version,
        created_at: d.created_at, modified_at: d.created_at, deleted_at: null, ...Object.fromEntries(COUNT_COLUMNS.map((c) => [c, 0])) as Counts } };
    }
    case 'ThreatModelDetailsChanged': {
      const d = e.data;
      return { id: d.threat_model_id, set: { name: d.name, description: d.description, threat_model_framework: d.threat_model_framework, issue_uri: d.issue_uri,
        project_id: d.project_id, status: d.status, status_updated: d.status_updated, security_reviewer: d.security_reviewer, version: event.version, modified_at: d.modified_at } };
    }
    case 'ThreatModelAccessChanged':
      return { id: e.data.threat_model_id, access: true,
        set: { owner: e.data.owner, authorization: e.data.authorization, version: event.version, modified_at: e.data.modified_at } };
    case 'ThreatModelDeleted':
      return { id: e.data.threat_model_id, set: { deleted_at: e.data.deleted_at, version: event.version } };
    case 'ThreatModelRestored':
      return { id: e.data.threat_model_id, set: { deleted_at: null, version: event.version, modified_at: e.data.restored_at } };
    case 'MetadataEntriesSet':
    case 'MetadataEntriesRemoved': {
      const m = (e as MetadataEvent).data;
      // Metadata lives in its own projection; here it only moves the threat model's version and modification time.
      return m.entity_type === THREAT_MODEL_ENTITY ? { id: m.entity_id, set: { version: event.version, modified_at: m.at } } : null;
    }
    default:
      return null;
  }
}

async function applyOwn(event: StoredEvent, client: PoolClient): Promise<void> {
  const change = ownChange(event);
  if (!change) return;
  if ('insert' in change) {
    const c = rowSql(change.insert);
    await client.query(`with t as (insert into threat_models (${c.columns}) values (${c.placeholders}) ${RETURNING}) ${insertReadersFromT(c.values.length + 1)}`,
      [...c.values, ...readerParams(change.insert.authorization)]);
    return;
  }
  const c = rowSql(change.set, 2);
  const update = `with t as (update threat_models set ${c.assignments} where id = $1 ${RETURNING})`;
  if (!change.access) {
    await client.query(`${update} ${TOUCH_READERS_FROM_T}`, [change.id, ...c.values]);
    return;
  }
  // The readers' rows are replaced whole: entries may have gone, and one statement cannot delete and re-insert the same rows.
  await client.query('delete from threat_model_readers where threat_model_id = $1', [change.id]);
  await client.query(`${update} ${insertReadersFromT(c.values.length + 2)}`, [change.id, ...c.values, ...readerParams(change.set.authorization!)]);
}

/** The count change of a child's event on its threat model (nothing when the delta is 0), refusing an event that gives no whole delta. */
function countChange(event: StoredEvent, rule: ChildCountRule): { id: string; column: CountColumn; delta: number } | null {
  const { threat_model_id } = event.data as { threat_model_id?: unknown };
  if (typeof threat_model_id !== 'string') throw new Error(`${event.type} carries no threat_model_id`);
  const delta = rule.delta(event.data);
  if (!Number.isSafeInteger(delta)) throw new Error(`${event.type} gives ${rule.column} a delta of ${delta}, not a whole number`);
  return delta === 0 ? null : { id: threat_model_id, column: rule.column, delta };
}

const noRowFor = (event: StoredEvent, c: { id: string; column: CountColumn }) =>
  new Error(`${event.type} moves ${c.column} of threat model ${c.id}, which has no row`);

/**
 * Moves a count by an event's delta. Nothing is clamped: a count that would go below zero (an
 * event applied twice, a wrong delta) violates the table's check constraint, and a count on a
 * threat model the table does not have is refused too, so the event is dead-lettered and the
 * projection halts where the bug shows instead of serving a count that is quietly wrong.
 */
async function applyCount(event: StoredEvent, rule: ChildCountRule, client: PoolClient): Promise<void> {
  const c = countChange(event, rule);
  if (!c) return;
  const { rowCount } = await client.query(`update threat_models set ${c.column} = ${c.column} + $2 where id = $1`, [c.id, c.delta]);
  if (rowCount === 0) throw noRowFor(event, c);
}

/** The bulk fold: the rows by id, the counts moved in memory (the table's check against a count below zero is the insert's), the readers derived last. */
function bulkFold(countRules: ChildCountRules): BulkFold {
  const models = new KeyedRows<ThreatModelRow>();
  return {
    add(event) {
      const rule = countRules.rules[event.type];
      if (rule) {
        const c = countChange(event, rule);
        if (!c) return;
        const row = models.get(c.id);
        if (!row) throw noRowFor(event, c);
        row[c.column] += c.delta;
        return;
      }
      const change = ownChange(event);
      if (!change) return;
      if ('insert' in change) models.insert(change.insert.id, change.insert);
      else models.patch(change.id, change.set);
    },
    rows: () => [
      ['threat_models', models.values()],
      ['threat_model_readers', [...models.values()].flatMap((m) => readerEntries(m.authorization).map((e) => ({
        threat_model_id: m.id, principal_type: e.principal_type, provider: e.provider, subject: subjectOf(e), role: e.role, modified_at: m.modified_at, deleted_at: m.deleted_at,
      })))],
    ],
  };
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
    bulk: () => bulkFold(countRules),
  };
}
