import type { ThreatModelEvent } from '../commands/threat-models/events.js';
import type { Authorization } from '../commands/threat-models/values.js';
import { subjectOf } from '../commands/threat-models/authorization.js';
import type { Projection } from './projection.js';

export const THREAT_MODEL_ACCESS_PROJECTION = 'threat_model_access';

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
    const e = { type: event.type, data: event.data } as ThreatModelEvent;
    if (e.type !== 'ThreatModelCreated' && e.type !== 'ThreatModelAccessChanged') return;
    const id = e.data.threat_model_id;
    const entries: Authorization[] = e.data.authorization;
    await client.query('delete from threat_model_access where threat_model_id = $1', [id]);
    if (entries.length === 0) return;
    await client.query(
      `insert into threat_model_access (threat_model_id, principal_type, provider, subject, provider_id, role)
       select $1, t, p, s, pid, r from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as x(t, p, s, pid, r)
       on conflict (threat_model_id, principal_type, provider, subject) do update set role = excluded.role`,
      [id, entries.map((x) => x.principal_type), entries.map((x) => x.provider), entries.map((x) => subjectOf(x)), entries.map((x) => x.provider_id), entries.map((x) => x.role)]);
  },
};
