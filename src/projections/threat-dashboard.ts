import type { PoolClient } from 'pg';
import { childEventTypes, type ChildChanged, type ChildCreated } from '../commands/child-resources/index.js';
import { threatResource, type ThreatFields } from '../commands/threats/index.js';
import type { StoredEvent } from '../events/types.js';
import { KeyedRows, type BulkFold, type BulkRow } from './bulk.js';
import { rowSql } from './row-sql.js';
import type { Projection } from './projection.js';

export const THREAT_DASHBOARD_PROJECTION = 'threat_dashboard';

const types = childEventTypes(threatResource.label);

/** Where a threat counts: its severity and status as lists filter them (lower case, '' unset) and whether it is mitigated. */
interface Bucket { severity: string; status: string; mitigated: boolean }
const bucketOf = (f: Pick<ThreatFields, 'severity' | 'status' | 'mitigated'>): Bucket =>
  ({ severity: (f.severity ?? '').toLowerCase(), status: (f.status ?? '').toLowerCase(), mitigated: f.mitigated });
const sameBucket = (a: Bucket, b: Bucket) => a.severity === b.severity && a.status === b.status && a.mitigated === b.mitigated;

interface ThreatRow extends Bucket, BulkRow {
  threat_id: string; threat_model_id: string; name: string; deleted: boolean; change: string; changed_at: Date; changed_position: number;
}
type Row = Pick<ThreatRow, 'threat_model_id' | 'severity' | 'status' | 'mitigated' | 'deleted'>;
interface CountMove { threatModelId: string; bucket: Bucket; delta: 1 | -1 }

/**
 * What one event does to the dashboard, given the threat's row before it (none for a creation):
 * its row inserted or changed, and the counts it moves. The one computation of the per-event
 * apply and the bulk fold; it refuses what a skipped or doubled event would leave.
 */
function dashboardChange(event: StoredEvent, before: Row | undefined): { insert: ThreatRow; moves: CountMove[] } | { id: string; set: Partial<ThreatRow>; moves: CountMove[] } | null {
  const stamp = { changed_at: event.created_at, changed_position: event.position };
  const id = (event.data as { id: string }).id;
  const existing = (): Row => {
    if (!before) throw new Error(`${event.type} for threat ${id}, which the dashboard never saw created`);
    return before;
  };
  switch (event.type) {
    case types.created: {
      const d = event.data as ChildCreated<ThreatFields>;
      const b = bucketOf(d.fields);
      return { insert: { threat_id: d.id, threat_model_id: d.threat_model_id, name: d.fields.name, ...b, deleted: false, change: 'created', ...stamp },
        moves: [{ threatModelId: d.threat_model_id, bucket: b, delta: 1 }] };
    }
    case types.changed: {
      const d = event.data as ChildChanged<ThreatFields>;
      const was = existing();
      const after = bucketOf(d.fields);
      const moves: CountMove[] = !was.deleted && !sameBucket(was, after)
        ? [{ threatModelId: was.threat_model_id, bucket: was, delta: -1 }, { threatModelId: was.threat_model_id, bucket: after, delta: 1 }] : [];
      return { id, set: { name: d.fields.name, ...after, change: 'changed', ...stamp }, moves };
    }
    case types.deleted:
    case types.restored: {
      const was = existing();
      const deleting = event.type === types.deleted;
      if (was.deleted === deleting) throw new Error(`${event.type} for threat ${id}, which is already ${deleting ? 'deleted' : 'live'}`);
      return { id, set: { deleted: deleting, change: deleting ? 'deleted' : 'restored', ...stamp }, moves: [{ threatModelId: was.threat_model_id, bucket: was, delta: deleting ? -1 : 1 }] };
    }
    default:
      return null;
  }
}

const countKey = (m: CountMove): unknown[] => [m.threatModelId, m.bucket.severity, m.bucket.status, m.bucket.mitigated];
const noCountFor = (m: CountMove) => new Error(`no dashboard count to take a threat from (${countKey(m).join(', ')})`);

/** Moves a bucket's count; the table's check makes a count below zero fail loudly (a skipped or doubled event). */
async function count(client: PoolClient, m: CountMove): Promise<void> {
  if (m.delta < 0) {
    const { rowCount } = await client.query(
      'update threat_dashboard_counts set threats = threats - 1 where threat_model_id = $1 and severity = $2 and status = $3 and mitigated = $4', countKey(m));
    if (rowCount !== 1) throw noCountFor(m);
    return;
  }
  await client.query(
    `insert into threat_dashboard_counts (threat_model_id, severity, status, mitigated, threats) values ($1, $2, $3, $4, 1)
     on conflict (threat_model_id, severity, status, mitigated) do update set threats = threat_dashboard_counts.threats + 1`, countKey(m));
}

async function applyDashboard(event: StoredEvent, client: PoolClient): Promise<void> {
  let before: Row | undefined;
  if (event.type !== types.created) {
    const { rows } = await client.query<Row>('select threat_model_id, severity, status, mitigated, deleted from threat_dashboard_threats where threat_id = $1',
      [(event.data as { id: string }).id]);
    before = rows[0];
  }
  const change = dashboardChange(event, before);
  if (!change) return;
  if ('insert' in change) {
    const sql = rowSql(change.insert);
    await client.query(`insert into threat_dashboard_threats (${sql.columns}) values (${sql.placeholders})`, sql.values);
  }
  for (const m of change.moves) await count(client, m);
  if ('set' in change) {
    const sql = rowSql(change.set, 2);
    await client.query(`update threat_dashboard_threats set ${sql.assignments} where threat_id = $1`, [change.id, ...sql.values]);
  }
}

interface CountRow extends BulkRow { threat_model_id: string; severity: string; status: string; mitigated: boolean; threats: number }

function bulkFold(): BulkFold {
  const threats = new KeyedRows<ThreatRow>();
  const counts = new Map<string, CountRow>();
  return {
    add(event) {
      const change = dashboardChange(event, threats.get((event.data as { id: string }).id));
      if (!change) return;
      if ('insert' in change) threats.insert(change.insert.threat_id, change.insert);
      else threats.patch(change.id, change.set);
      for (const m of change.moves) {
        const key = JSON.stringify(countKey(m));
        const row = counts.get(key);
        if (m.delta < 0 && (!row || row.threats === 0)) throw noCountFor(m);
        if (row) row.threats += m.delta;
        else counts.set(key, { threat_model_id: m.threatModelId, ...m.bucket, threats: 1 });
      }
    },
    rows: () => [['threat_dashboard_threats', threats.values()], ['threat_dashboard_counts', counts.values()]],
  };
}

/**
 * The threat dashboard: how many live threats each threat model has per severity, status and
 * mitigated, and each threat's latest change. Counts are kept per event — a change moves a
 * threat from its old bucket to its new one — never counted at query time. Deleting the parent
 * threat model is not an event here: queries join the live threat models.
 */
export const threatDashboardProjection: Projection = {
  name: THREAT_DASHBOARD_PROJECTION,
  version: 1,
  handles: [types.created, types.changed, types.deleted, types.restored],
  tables: ['threat_dashboard_threats', 'threat_dashboard_counts'],
  onPoison: 'halt',
  apply: applyDashboard,
  bulk: bulkFold,
};
