import { Type, type Static } from '@sinclair/typebox';
import { childAggregate, type ChildResource } from '../child-resources/index.js';
import { inputSchema } from '../child-resources/fields.js';
import { ChildDescription, ChildName, Label, Nullable, SiblingId, checkOneDecimal } from '../child-resources/values.js';
import { IssueUri } from '../threat-models/values.js';

/** A threat's writable fields (TMI's ThreatBase), as stored: every optional field present, absent ones null. */
const Score = Type.Number({ minimum: 0, maximum: 10 });
export const CvssScore = Type.Object({
  vector: Type.String({ minLength: 26, maxLength: 250, pattern: '^[A-Za-z0-9.:/_-]+$' }),
  score: Score,
}, { additionalProperties: false });
export const SsvcScore = Type.Object({
  vector: Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9/:._-]+$' }),
  decision: Type.Union([Type.Literal('Defer'), Type.Literal('Scheduled'), Type.Literal('Out-of-Cycle'), Type.Literal('Immediate')]),
  methodology: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9 _-]+$' }),
}, { additionalProperties: false });
export const ThreatTypes = Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\x00-\\x1F]*$' }), { maxItems: 20, uniqueItems: true });
export const CweIds = Type.Array(Type.String({ minLength: 5, maxLength: 16, pattern: '^CWE-[0-9]+$' }), { maxItems: 50, uniqueItems: true });

export const ThreatFields = Type.Object({
  name: ChildName,
  description: Nullable(ChildDescription),
  mitigation: Nullable(Type.String({ maxLength: 1024, pattern: '^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]*$' })),
  diagram_id: Nullable(SiblingId),
  cell_id: Nullable(SiblingId),
  asset_id: Nullable(SiblingId),
  severity: Nullable(Label(50)),
  score: Nullable(Score),
  priority: Nullable(Label(256)),
  mitigated: Type.Boolean(),
  status: Nullable(Label(256)),
  threat_type: ThreatTypes,
  issue_uri: Nullable(IssueUri),
  cwe_id: CweIds,
  cvss: Type.Array(CvssScore, { maxItems: 10 }),
  ssvc: Nullable(SsvcScore),
  include_in_report: Type.Boolean(),
  timmy_enabled: Type.Boolean(),
}, { additionalProperties: false });
export type ThreatFields = Static<typeof ThreatFields>;

/** TMI's ThreatInput (ThreatBase): `name` and `threat_type` are required; a score or an SSVC assessment, given, is one (stored, an unset one is null). */
const REQUIRED = ['name', 'threat_type'] as const;
export const ThreatInput = inputSchema(ThreatFields, { required: REQUIRED, notNull: ['score', 'ssvc'] });

const Any = Type.Unknown();
/** Event data: the same members, structural only. */
const StoredThreatFields = Type.Object(Object.fromEntries(Object.keys(ThreatFields.properties).map((k) => [k, Any])));

const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);
const emptyAsNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export const threatResource: ChildResource<ThreatFields> = {
  kind: 'threat',
  plural: 'threats',
  label: 'Threat',
  writable: ThreatFields,
  stored: StoredThreatFields,
  input: ThreatInput,
  required: REQUIRED,
  deleteRole: 'writer',
  maxMetadata: 100,
  fromInput(input) {
    const i = input as Partial<ThreatFields>;
    return {
      name: i.name as string,
      description: orNull(i.description),
      mitigation: orNull(i.mitigation),
      // The contract lets a link be an empty string; it means no link.
      diagram_id: emptyAsNull(i.diagram_id),
      cell_id: emptyAsNull(i.cell_id),
      asset_id: emptyAsNull(i.asset_id),
      severity: orNull(i.severity),
      score: orNull(i.score),
      priority: orNull(i.priority),
      mitigated: i.mitigated ?? false,
      status: orNull(i.status),
      threat_type: i.threat_type ?? [],
      issue_uri: orNull(i.issue_uri),
      cwe_id: i.cwe_id ?? [],
      cvss: i.cvss ?? [],
      ssvc: orNull(i.ssvc),
      include_in_report: i.include_in_report ?? true,
      timmy_enabled: i.timmy_enabled ?? true,
    };
  },
  check(fields) {
    checkOneDecimal(fields.score, 'score');
    fields.cvss.forEach((c, n) => checkOneDecimal(c.score, `cvss[${n}].score`));
  },
};

export const threats = childAggregate(threatResource);
