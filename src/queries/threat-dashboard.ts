import type { Pool } from 'pg';
import type { Caller } from '../commands/caller.js';
import { readableThreatModelsSql } from './threat-models.js';

export interface DashboardCounts {
  total: number;
  mitigated: number;
  by_severity: Record<string, number>;
  by_status: Record<string, number>;
}

export interface RecentChange {
  threat_model_id: string;
  threat_id: string;
  name: string;
  severity: string | null;
  status: string | null;
  mitigated: boolean;
  change: 'created' | 'changed' | 'deleted' | 'restored';
  changed_at: string;
}

interface BucketRow { severity: string; status: string; mitigated: boolean; threats: number }

/** Folds bucket rows into the totals a dashboard shows; '' (unset) is reported as `unset`. */
function summarize(rows: readonly BucketRow[]): DashboardCounts {
  // Keyed by what writers typed: without a prototype, a severity named `constructor` or `__proto__` is a bucket like any other.
  const out: DashboardCounts = { total: 0, mitigated: 0, by_severity: Object.create(null), by_status: Object.create(null) };
  for (const r of rows) {
    out.total += r.threats;
    if (r.mitigated) out.mitigated += r.threats;
    const severity = r.severity || 'unset';
    const status = r.status || 'unset';
    out.by_severity[severity] = (out.by_severity[severity] ?? 0) + r.threats;
    out.by_status[status] = (out.by_status[status] ?? 0) + r.threats;
  }
  return out;
}

interface RecentRow { threat_model_id: string; threat_id: string; name: string; severity: string; status: string; mitigated: boolean; change: RecentChange['change']; changed_at: Date }

const toChange = (r: RecentRow): RecentChange => ({
  threat_model_id: r.threat_model_id, threat_id: r.threat_id, name: r.name, severity: r.severity || null, status: r.status || null,
  mitigated: r.mitigated, change: r.change, changed_at: r.changed_at.toISOString(),
});

const RECENT_COLUMNS = 'd.threat_model_id, d.threat_id, d.name, d.severity, d.status, d.mitigated, d.change, d.changed_at';

/** One threat model's counts and newest changes (the caller has passed its read gate). */
export async function threatModelDashboard(pool: Pool, threatModelId: string, recent: number): Promise<DashboardCounts & { recent: RecentChange[] }> {
  const [buckets, changes] = await Promise.all([
    pool.query<BucketRow>('select severity, status, mitigated, threats from threat_dashboard_counts where threat_model_id = $1 and threats > 0', [threatModelId]),
    pool.query<RecentRow>(`select ${RECENT_COLUMNS} from threat_dashboard_threats d where d.threat_model_id = $1 order by d.changed_position desc limit $2`, [threatModelId, recent]),
  ]);
  return { ...summarize(buckets.rows), recent: changes.rows.map(toChange) };
}

/** Across every live threat model the caller can read: counts, how many threat models, and the newest changes. */
export async function callerDashboard(pool: Pool, caller: Caller, recent: number): Promise<DashboardCounts & { threat_models: number; recent: RecentChange[] }> {
  const params: unknown[] = [];
  const readable = readableThreatModelsSql(caller, (v) => `$${params.push(v)}`);
  const live = `with readable as materialized (${readable}),
    live as materialized (select r.id from readable r join threat_models t on t.id = r.id and t.deleted_at is null)`;
  const [buckets, models, changes] = await Promise.all([
    pool.query<BucketRow>(`${live} select c.severity, c.status, c.mitigated, sum(c.threats)::int as threats
      from threat_dashboard_counts c join live on live.id = c.threat_model_id where c.threats > 0 group by 1, 2, 3`, params),
    pool.query<{ n: number }>(`${live} select count(*)::int as n from live`, params),
    pool.query<RecentRow>(`${live} select ${RECENT_COLUMNS} from live cross join lateral (
        select * from threat_dashboard_threats d where d.threat_model_id = live.id order by d.changed_position desc limit $${params.length + 1}) d
      order by d.changed_position desc limit $${params.length + 1}`, [...params, recent]),
  ]);
  return { ...summarize(buckets.rows), threat_models: models.rows[0]!.n, recent: changes.rows.map(toChange) };
}
