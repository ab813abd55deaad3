import type { ThreatModelEvent } from '../commands/threat-models/events.js';
import { subjectOf } from '../commands/threat-models/authorization.js';
import type { StoredEvent } from '../events/types.js';
import type { BulkFold, BulkRow } from './bulk.js';
import type { Projection } from './projection.js';

export const THREAT_MODEL_ACCESS_PROJECTION = 'threat_model_access';

interface AccessRow extends BulkRow { threat_model_id: string; principal_type: string; provider: string; subject: string; provider_id: string | null | undefined; role: string }

/** A threat model's rows, replacing whatever it had: the one computation of the apply and the bulk fold. */
function accessChange(event: StoredEvent): { id: string; rows: AccessRow[] } | null {
  const e = { type: event.type, data: event.data } as ThreatModelEvent;
  if (e.type !== 'ThreatModelCreated' && e.type !== 'ThreatModelAccessChanged') return null;
  const id = e.data.threat_model_id;
  return { id, rows: e.data.authorization.map((x) => ({ threat_model_id: id, principal_type: x.principal_type, provider: x.provider, subject: subjectOf(x), provider_id: x.provider_id, role: x.role })) };
}

function bulkFold(): BulkFold {
  const byModel = new Map<string, AccessRow[]>();
  return {
    add(event) {
      const change = accessChange(event);
      if (!change) return;
      const keys = new Set(change.rows.map((r) => JSON.stringify([r.principal_type, r.provider, r.subject])));
      // As the upsert refuses: one statement cannot change a row twice.
      if (keys.size !== change.rows.length) throw new Error(`${event.type} at ${event.position} names a subject twice`);
      byModel.set(change.id, change.rows);
    },
    rows: () => [['threat_model_access', [...byModel.values()].flat()]],
  };
}

/**
 * The access matrix: one row per subject granted a role on a threat model, keyed for the
 * question "which threat models can this caller read". Owners are in the list (the domain
 * keeps an owner entry for them), so the list alone answers it.
 */
export const threatModelAccessProjection: Projection = {
  name: THREAT_MODEL_ACCESS_PROJECTION,
  // 2: subjects folded by the domain's rule (JavaScript's toLowerCase), not PostgreSQL's lower(), which folds some letters differently.
  version: 2,
  handles: ['ThreatModelCreated', 'ThreatModelAccessChanged'],
  tables: ['threat_model_access'],
  onPoison: 'halt',
  async apply(event, client) {
    const change = accessChange(event);
    if (!change) return;
    await client.query('delete from threat_model_access where threat_model_id = $1', [change.id]);
    if (change.rows.length === 0) return;
    const column = <K extends keyof AccessRow>(k: K) => change.rows.map((r) => r[k]);
    await client.query(
      `insert into threat_model_access (threat_model_id, principal_type, provider, subject, provider_id, role)
       select $1, t, p, s, pid, r from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as x(t, p, s, pid, r)
       on conflict (threat_model_id, principal_type, provider, subject) do update set role = excluded.role`,
      [change.id, column('principal_type'), column('provider'), column('subject'), column('provider_id'), column('role')]);
  },
  bulk: bulkFold,
};
