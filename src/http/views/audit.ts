import { Type } from '@sinclair/typebox';
import { CHANGE_TYPES, OBJECT_TYPES, summaryText, type DerivedEntry } from '../../commands/audit/entries.js';
import { auditActor, type AuditEntryView } from '../../queries/audit-trail.js';

/** TMI's AuditEntry, AuditActor and the answers holding them (ListThreatModelAuditTrailResponse, ListAuditTrailResponse, RollbackResponse). */
const Uuid = Type.String({ format: 'uuid' });
export const AuditActor = Type.Object({
  email: Type.String(), provider: Type.String(), provider_id: Type.String(), display_name: Type.String(),
}, { additionalProperties: false });
export const AuditEntry = Type.Object({
  id: Uuid,
  threat_model_id: Uuid,
  object_type: Type.Union(OBJECT_TYPES.map((t) => Type.Literal(t))),
  object_id: Uuid,
  version: Type.Union([Type.Integer(), Type.Null()]),
  change_type: Type.Union(CHANGE_TYPES.map((t) => Type.Literal(t))),
  actor: AuditActor,
  change_summary: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
}, { additionalProperties: false });

const entries = Type.Array(AuditEntry, { maxItems: 100 });
export const ThreatModelTrailPage = Type.Object({
  audit_entries: entries, total: Type.Integer(), limit: Type.Integer(),
  next_cursor: Type.Union([Type.String(), Type.Null()]), prev_cursor: Type.Union([Type.String(), Type.Null()]),
}, { additionalProperties: false });
export const ObjectTrailPage = Type.Object({ audit_entries: entries, total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }, { additionalProperties: false });
export const RollbackResponse = Type.Object({
  restored_entity: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  audit_entry: AuditEntry,
}, { additionalProperties: false });

/**
 * A new entry as the rollback's own events make it, for its answer (the trail's read table may not
 * show it yet). The actor is the caller, whose provider id and name the events carry (so the
 * user's record the trail falls back on is not needed: auditActor gives the trail's answer).
 */
export function derivedEntryView(entry: DerivedEntry & { threat_model_id: string }): AuditEntryView {
  const { actor } = entry.metadata;
  return {
    id: entry.id, threat_model_id: entry.threat_model_id, object_type: entry.object_type, object_id: entry.object_id, version: entry.version,
    change_type: entry.change.change_type,
    actor: auditActor(actor, null),
    change_summary: summaryText(entry.change, entry.metadata), created_at: entry.created_at.toISOString(),
  };
}
