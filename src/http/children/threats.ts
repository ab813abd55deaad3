import { Type, type Static } from '@sinclair/typebox';
import { threats, type ThreatFields } from '../../commands/threats/index.js';
import type { Child } from '../../commands/child-resources/index.js';
import { THREAT_DASHBOARD_PROJECTION } from '../../projections/threat-dashboard.js';
import type { ListRefinement, OrderTerm } from '../../queries/child-resources.js';
import { badRequest } from '../errors.js';
import { ListQuery, ServerMembers, Timestamp, Uuid } from '../schemas/children.js';
import { compact } from '../views/compact.js';
import type { ChildHttp } from './child-http.js';

const Score = Type.Number({ minimum: 0, maximum: 10 });

const Text = Type.String();
/** TMI's Threat: what a threat answers with. Unset members are left out. */
export const Threat = Type.Object({
  ...ServerMembers,
  threat_model_id: Uuid,
  name: Text,
  description: Type.Optional(Text),
  mitigation: Type.Optional(Text),
  diagram_id: Type.Optional(Text),
  cell_id: Type.Optional(Text),
  asset_id: Type.Optional(Text),
  severity: Type.Optional(Text),
  score: Type.Optional(Type.Number()),
  priority: Type.Optional(Text),
  mitigated: Type.Boolean(),
  status: Type.Optional(Text),
  threat_type: Type.Array(Text),
  issue_uri: Type.Optional(Text),
  cwe_id: Type.Array(Text),
  cvss: Type.Array(Type.Object({ vector: Text, score: Type.Number() })),
  ssvc: Type.Optional(Type.Object({ vector: Text, decision: Text, methodology: Text })),
  include_in_report: Type.Boolean(),
  timmy_enabled: Type.Boolean(),
  auto_generated: Type.Boolean(),
});

const SEVERITIES = ['unknown', 'informational', 'low', 'medium', 'high', 'critical'] as const;
const Strings = Type.Array(Type.String({ maxLength: 256, pattern: '^[^\\x00-\\x1F]*$' }), { maxItems: 50 });
const Filter = (maxLength: number) => Type.String({ maxLength, pattern: '^[^\\x00-\\x1F]*$' });

/** The contract's list parameters for threats. */
export const ListThreatsQuery = Type.Object({
  ...ListQuery,
  sort: Type.Optional(Filter(1000)),
  name: Type.Optional(Filter(256)),
  description: Type.Optional(Filter(1000)),
  threat_type: Type.Optional(Strings),
  severity: Type.Optional(Type.Array(Type.Union(SEVERITIES.map((s) => Type.Literal(s))), { maxItems: 50 })),
  priority: Type.Optional(Strings),
  status: Type.Optional(Strings),
  mitigated: Type.Optional(Type.Boolean()),
  diagram_id: Type.Optional(Uuid),
  cell_id: Type.Optional(Uuid),
  score_gt: Type.Optional(Score),
  score_lt: Type.Optional(Score),
  score_eq: Type.Optional(Score),
  score_ge: Type.Optional(Score),
  score_le: Type.Optional(Score),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  modified_after: Type.Optional(Timestamp),
  modified_before: Type.Optional(Timestamp),
}, { additionalProperties: false });
export type ListThreatsQuery = Static<typeof ListThreatsQuery>;

const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
const lower = (values: readonly string[]) => values.map((v) => v.toLowerCase());

/** What `sort` may name, as the ORDER BY expression each index of migration 0023 is on (severity by rank; unset values last either way). */
const SORTABLE: Record<string, Omit<OrderTerm, 'direction'>> = {
  created_at: { expression: 'created_at' },
  modified_at: { expression: 'modified_at' },
  name: { expression: 'lower(name)' },
  severity: { expression: 'severity_rank', nullsLast: true },
  score: { expression: 'score', nullsLast: true },
  priority: { expression: 'priority', nullsLast: true },
  status: { expression: 'status', nullsLast: true },
};

/** `sort=score:desc,name:asc` → ORDER BY terms; anything else is refused (400), never passed into SQL. */
export function threatOrder(sort: string | undefined): OrderTerm[] {
  if (!sort) return [{ expression: 'created_at', direction: 'desc' }];
  return sort.split(',').map((part) => {
    const [field = '', dir = 'asc', ...rest] = part.trim().split(':');
    // Own keys only: `constructor` or `toString` must not reach the SQL as a term.
    const term = Object.hasOwn(SORTABLE, field) ? SORTABLE[field] : undefined;
    if (!term || rest.length > 0 || (dir !== 'asc' && dir !== 'desc')) {
      throw badRequest(`sort must be field:asc|desc (comma-separated), field one of ${Object.keys(SORTABLE).join(', ')}`);
    }
    return { ...term, direction: dir };
  });
}

/**
 * `column` is one of `values`. One value is written as an equality: PostgreSQL 15 does not read
 * `= any(array)` as one value, so it would not use the order of an index that follows the column
 * (severity, then score) and would scan every threat of the parent by score instead.
 */
function oneOf(column: string, values: readonly string[], param: (value: unknown) => string): string {
  return values.length === 1 ? `${column} = ${param(values[0])}` : `${column} = any(${param(values)}::text[])`;
}

export function threatRefinement(q: ListThreatsQuery): ListRefinement {
  return {
    orderBy: threatOrder(q.sort),
    where(param) {
      const w: string[] = [];
      if (q.name) w.push(`name ilike ${param(like(q.name))}`);
      if (q.description) w.push(`fields->>'description' ilike ${param(like(q.description))}`);
      if (q.threat_type?.length) {
        w.push(`exists (select 1 from jsonb_array_elements_text(fields->'threat_type') t where lower(t) = any(${param(lower(q.threat_type))}::text[]))`);
      }
      if (q.severity?.length) w.push(oneOf('severity', lower(q.severity), param));
      if (q.priority?.length) w.push(oneOf('priority', lower(q.priority), param));
      if (q.status?.length) w.push(oneOf('status', lower(q.status), param));
      if (q.mitigated !== undefined) w.push(`mitigated = ${param(q.mitigated)}`);
      if (q.diagram_id) w.push(`lower(diagram_id) = ${param(q.diagram_id.toLowerCase())}`);
      if (q.cell_id) w.push(`lower(cell_id) = ${param(q.cell_id.toLowerCase())}`);
      const scores: [keyof ListThreatsQuery, string][] = [['score_gt', '>'], ['score_lt', '<'], ['score_eq', '='], ['score_ge', '>='], ['score_le', '<=']];
      for (const [k, op] of scores) if (q[k] !== undefined) w.push(`score ${op} ${param(q[k])}::numeric`);
      const ranges: [keyof ListThreatsQuery, string, string][] = [
        ['created_after', 'created_at', '>'], ['created_before', 'created_at', '<'], ['modified_after', 'modified_at', '>'], ['modified_before', 'modified_at', '<'],
      ];
      for (const [k, column, op] of ranges) if (q[k] !== undefined) w.push(`${column} ${op} ${param(q[k])}::timestamptz`);
      return w;
    },
  };
}

export function threatBody(t: Child<ThreatFields>, version: number) {
  return compact({
    id: t.id,
    threat_model_id: t.threat_model_id,
    alias: t.alias,
    ...t.fields,
    metadata: t.metadata,
    auto_generated: t.auto_generated,
    created_at: t.created_at,
    modified_at: t.modified_at,
    deleted_at: t.deleted_at,
    version,
  });
}

export const threatsHttp: ChildHttp<ThreatFields> = {
  aggregate: threats,
  idParam: 'threat_id',
  tag: 'Threats',
  input: threats.resource.input,
  body: Threat,
  view: threatBody,
  list: { key: 'threats', query: ListThreatsQuery, refine: (q) => threatRefinement(q as ListThreatsQuery) },
  alsoShownBy: [THREAT_DASHBOARD_PROJECTION],
  bulk: { max: 20, create: 201, update: 200, patch: true, delete: true },
};
