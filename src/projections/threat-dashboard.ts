import type { PoolClient } from 'pg';
import { childEventTypes, type ChildChanged, type ChildCreated, type ChildDeleted, type ChildRestored } from '../commands/child-resources/index.js';
import { threatResource, type ThreatFields } from '../commands/threats/index.js';
import type { StoredEvent } from '../events/types.js';
import type { Projection } from './projection.js';

export const THREAT_DASHBOARD_PROJECTION = 'threat_dashboard';

const types = childEventTypes(threatResource.label);

/** Where a threat counts: its severity and status as lists filter them (lower case, '' unset) and whether it is mitigated. */
interface Bucket { severity: string; status: string; mitigated: boolean }
const bucketOf = (f: Pick<ThreatFields, 'severity' | 'status' | 'mitigated'>): Bucket =>
  ({ severity: (f.severity ?? '').toLowerCase(), status: (f.status ?? '').toLowerCase(), mitigated: f.mitigated });
const sameBucket = (a: Bucket, b: Bucket) => a.severity === b.severity && a.status === b.status && a.mitigated === b.mitigated;

/** Moves a bucket's count; the table's check makes a count below zero fail loudly (a skipped or doubled event). */
async function count(client: PoolClient, threatModelId: string, b: Bucket, delta: 1 | -1): Promise<void> {
  const key = [threatModelId, b.severity, b.status, b.mitigated];
  if (delta < 0) {
    const { rowCount } = await client.query(
      'update threat_dashboard_counts set threats = threats - 1 where threat_model_id = $1 and severity = $2 and status = $3 and mitigated = $4', key);
    if (rowCount !== 1) throw new Error(`no dashboard count to take a threat from (${key.join(', ')})`);
    return;
  }
  await client.query(
    `insert into threat_dashboard_counts (threat_model_id, severity, status, mitigated, threats) values ($1, $2, $3, $4, 1)
     on conflict (threat_model_id, severity, status, mitigated) do update set threats = threat_dashboard_counts.threats + 1`, key);
}

interface Row extends Bucket { threat_model_id: string; deleted: boolean }

async function current(client: PoolClient, event: StoredEvent, id: string): Promise<Row> {
  const { rows } = await client.query<Row>('select threat_model_id, severity, status, mitigated, deleted from threat_dashboard_threats where threat_id = $1', [id]);
  if (!rows[0]) throw new Error(`${event.type} for threat ${id}, which the dashboard never saw created`);
  return rows[0];
}

async function record(client: PoolClient, event: StoredEvent, id: string, change: string, set: string, values: unknown[]): Promise<void> {
  await client.query(`update threat_dashboard_threats set ${set}, change = $2, changed_at = $3, changed_position = $4 where threat_id = $1`,
    [id, change, event.created_at, event.position, ...values]);
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
  async apply(event, client) {
    switch (event.type) {
      case types.created: {
        const d = event.data as ChildCreated<ThreatFields>;
        const b = bucketOf(d.fields);
        await client.query(
          `insert into threat_dashboard_threats (threat_id, threat_model_id, name, severity, status, mitigated, deleted, change, changed_at, changed_position)
           values ($1, $2, $3, $4, $5, $6, false, 'created', $7, $8)`,
          [d.id, d.threat_model_id, d.fields.name, b.severity, b.status, b.mitigated, event.created_at, event.position]);
        await count(client, d.threat_model_id, b, 1);
        return;
      }
      case types.changed: {
        const d = event.data as ChildChanged<ThreatFields>;
        const before = await current(client, event, d.id);
        const after = bucketOf(d.fields);
        if (!before.deleted && !sameBucket(before, after)) {
          await count(client, before.threat_model_id, before, -1);
          await count(client, before.threat_model_id, after, 1);
        }
        await record(client, event, d.id, 'changed', 'name = $5, severity = $6, status = $7, mitigated = $8', [d.fields.name, after.severity, after.status, after.mitigated]);
        return;
      }
      case types.deleted:
      case types.restored: {
        const d = event.data as ChildDeleted | ChildRestored;
        const before = await current(client, event, d.id);
        const deleting = event.type === types.deleted;
        if (before.deleted === deleting) throw new Error(`${event.type} for threat ${d.id}, which is already ${deleting ? 'deleted' : 'live'}`);
        await count(client, before.threat_model_id, before, deleting ? -1 : 1);
        await record(client, event, d.id, deleting ? 'deleted' : 'restored', 'deleted = $5', [deleting]);
        return;
      }
    }
  },
};
