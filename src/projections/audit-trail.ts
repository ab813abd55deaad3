import {
  AUDITED_EVENT_TYPES, changeOf, groupKeyOf, mergeChange, objectOf, summaryText, threatModelNamedBy, transactionOf, type EntryChange,
} from '../commands/audit/entries.js';
import type { Projection } from './projection.js';

export const AUDIT_TRAIL_PROJECTION = 'audit_trail';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
    const object = objectOf(event);
    if (!object) return;
    const change = changeOf(event);
    const key = groupKeyOf(event);
    const tx = transactionOf(event.position);
    const { rows } = await client.query<{ id: string; threat_model_id: string; tx: string; group_key: string; summary_parts: string[]; change_type: EntryChange['change_type'] }>(
      `select id, threat_model_id, tx, group_key, summary_parts, change_type from audit_entries
        where stream_id = $1 order by first_position desc limit 1`, [event.stream_id]);
    const last = rows[0];
    if (last && last.group_key === key && Number(last.tx) === tx) {
      const merged = mergeChange({ change_type: last.change_type, summary: last.summary_parts }, change);
      await client.query(
        'update audit_entries set version = $2, change_type = $3, summary_parts = $4, change_summary = $5 where id = $1',
        [last.id, event.version, merged.change_type, JSON.stringify(merged.summary), summaryText(merged, event.metadata)]);
      return;
    }
    // A child's metadata events do not name the parent; the child's earlier entries do.
    const threatModelId = threatModelNamedBy(event) ?? last?.threat_model_id;
    if (!threatModelId) throw new Error(`${event.type} at ${event.position}: no threat model is known for ${event.stream_id}`);
    const { actor } = event.metadata;
    await client.query(
      `insert into audit_entries (id, threat_model_id, object_type, object_id, stream_id, version, change_type, change_summary, summary_parts,
         actor_user_id, actor_email, actor_provider, actor_provider_id, actor_display_name, first_position, tx, group_key, created_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
      [event.event_id, threatModelId, object.object_type, object.object_id, event.stream_id, event.version, change.change_type,
        summaryText(change, event.metadata), JSON.stringify(change.summary),
        actor.user_id !== null && UUID.test(actor.user_id) ? actor.user_id : null, actor.email, actor.provider,
        actor.provider_id ?? null, actor.display_name ?? null, event.position, tx, key, event.created_at]);
  },
};
