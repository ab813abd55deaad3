import {
  AUDITED_EVENT_TYPES, changeOf, groupKeyOf, mergeChange, objectOf, summaryText, threatModelNamedBy, transactionOf, type EntryChange,
} from '../commands/audit/entries.js';
import type { StoredEvent } from '../events/types.js';
import type { BulkFold, BulkRow } from './bulk.js';
import { rowSql } from './row-sql.js';
import type { Projection } from './projection.js';

export const AUDIT_TRAIL_PROJECTION = 'audit_trail';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface AuditRow extends BulkRow {
  id: string; threat_model_id: string; object_type: string; object_id: string; stream_id: string; version: number; change_type: EntryChange['change_type'];
  change_summary: string; summary_parts: string[]; actor_user_id: string | null; actor_email: string | null; actor_provider: string | null;
  actor_provider_id: string | null; actor_display_name: string | null; first_position: number; tx: number; group_key: string; created_at: Date;
}
/** What the stream's newest entry tells the next event. */
type Last = Pick<AuditRow, 'id' | 'threat_model_id' | 'tx' | 'group_key' | 'summary_parts' | 'change_type'>;

/**
 * What one event does to the trail, given its stream's newest entry: joins that entry (the same
 * command's change of the same entity) or starts a new one. The one computation of the
 * per-event apply and the bulk fold.
 */
function auditChange(event: StoredEvent, last: Last | undefined): { insert: AuditRow } | { id: string; set: Pick<AuditRow, 'version' | 'change_type' | 'summary_parts' | 'change_summary'> } | null {
  const object = objectOf(event);
  if (!object) return null;
  const change = changeOf(event);
  const key = groupKeyOf(event);
  const tx = transactionOf(event.position);
  if (last && last.group_key === key && last.tx === tx) {
    const merged = mergeChange({ change_type: last.change_type, summary: last.summary_parts }, change);
    return { id: last.id, set: { version: event.version, change_type: merged.change_type, summary_parts: merged.summary, change_summary: summaryText(merged, event.metadata) } };
  }
  // A child's metadata events do not name the parent; the child's earlier entries do.
  const threatModelId = threatModelNamedBy(event) ?? last?.threat_model_id;
  if (!threatModelId) throw new Error(`${event.type} at ${event.position}: no threat model is known for ${event.stream_id}`);
  const { actor } = event.metadata;
  return { insert: {
    id: event.event_id, threat_model_id: threatModelId, object_type: object.object_type, object_id: object.object_id, stream_id: event.stream_id,
    version: event.version, change_type: change.change_type, change_summary: summaryText(change, event.metadata), summary_parts: change.summary,
    actor_user_id: actor.user_id !== null && UUID.test(actor.user_id) ? actor.user_id : null, actor_email: actor.email, actor_provider: actor.provider,
    actor_provider_id: actor.provider_id ?? null, actor_display_name: actor.display_name ?? null, first_position: event.position, tx, group_key: key,
    created_at: event.created_at,
  } };
}

function bulkFold(): BulkFold {
  const entries: AuditRow[] = [];
  const newest = new Map<string, AuditRow>();
  return {
    add(event) {
      const last = newest.get(event.stream_id);
      const change = auditChange(event, last);
      if (!change) return;
      if ('set' in change) {
        Object.assign(last!, change.set);
        return;
      }
      entries.push(change.insert);
      newest.set(event.stream_id, change.insert);
    },
    rows: () => [['audit_entries', entries]],
  };
}

/**
 * TMI's audit trail: one entry per command's change of one threat model or child, derived from
 * its events (src/commands/audit/entries.ts). The events of one command on one stream arrive one
 * after another in the global order (one append, one transaction), so an event of the command
 * the stream's newest entry was made by joins that entry; any other starts a new one.
 */
export const auditTrailProjection: Projection = {
  name: AUDIT_TRAIL_PROJECTION,
  version: 1,
  handles: AUDITED_EVENT_TYPES,
  tables: ['audit_entries'],
  onPoison: 'halt',
  async apply(event, client) {
    if (!objectOf(event)) return;
    const { rows } = await client.query<Omit<Last, 'tx'> & { tx: string }>(
      `select id, threat_model_id, tx, group_key, summary_parts, change_type from audit_entries
        where stream_id = $1 order by first_position desc limit 1`, [event.stream_id]);
    const change = auditChange(event, rows[0] && { ...rows[0], tx: Number(rows[0].tx) });
    if (!change) return;
    if ('set' in change) {
      const sql = rowSql(change.set, 2);
      await client.query(`update audit_entries set ${sql.assignments} where id = $1`, [change.id, ...sql.values]);
      return;
    }
    const sql = rowSql(change.insert);
    await client.query(`insert into audit_entries (${sql.columns}) values (${sql.placeholders})`, sql.values);
  },
  bulk: bulkFold,
};
