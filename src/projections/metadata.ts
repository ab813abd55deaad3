import { METADATA_EVENT_TYPES, type MetadataEvent } from '../commands/metadata/events.js';
import type { StoredEvent } from '../events/types.js';
import type { BulkFold, BulkRow } from './bulk.js';
import type { Projection } from './projection.js';

export const METADATA_PROJECTION = 'metadata';

interface MetadataRow extends BulkRow {
  entity_type: string; entity_id: string; key: string; value: string; created_position: number; created_ordinal: number; created_at: string; modified_at: string;
}

/**
 * What one event does, the one computation of the apply and the bulk fold: the keys it removes,
 * or the rows it sets — new as given here, an existing one taking only `value` and `modified_at`.
 */
function metadataChange(event: StoredEvent): { entity_type: string; entity_id: string; remove: string[] } | { set: MetadataRow[] } {
  const e = { type: event.type, data: event.data } as MetadataEvent;
  const { entity_type, entity_id, at } = e.data;
  if (e.type === 'MetadataEntriesRemoved') return { entity_type, entity_id, remove: e.data.keys };
  return { set: e.data.entries.map((x, i) => ({ entity_type, entity_id, key: x.key, value: x.value, created_position: event.position, created_ordinal: i + 1, created_at: at, modified_at: at })) };
}

const keyOf = (r: Pick<MetadataRow, 'entity_type' | 'entity_id' | 'key'>) => JSON.stringify([r.entity_type, r.entity_id, r.key]);

function bulkFold(): BulkFold {
  const rows = new Map<string, MetadataRow>();
  return {
    add(event) {
      const change = metadataChange(event);
      if ('remove' in change) {
        for (const key of change.remove) rows.delete(keyOf({ ...change, key }));
        return;
      }
      const seen = new Set<string>();
      for (const row of change.set) {
        const key = keyOf(row);
        // As the upsert refuses: one statement cannot change a row twice.
        if (seen.has(key)) throw new Error(`${event.type} at ${event.position} sets ${row.key} twice`);
        seen.add(key);
        const existing = rows.get(key);
        if (existing) Object.assign(existing, { value: row.value, modified_at: row.modified_at });
        else rows.set(key, row);
      }
    },
    rows: () => [['metadata', rows.values()]],
  };
}

/** Key/value metadata of every entity type, from the shared metadata events. */
export const metadataProjection: Projection = {
  name: METADATA_PROJECTION,
  version: 1,
  handles: METADATA_EVENT_TYPES,
  tables: ['metadata'],
  onPoison: 'halt',
  async apply(event, client) {
    const change = metadataChange(event);
    if ('remove' in change) {
      await client.query('delete from metadata where entity_type = $1 and entity_id = $2 and key = any($3::text[])', [change.entity_type, change.entity_id, change.remove]);
      return;
    }
    const column = <K extends keyof MetadataRow>(k: K) => change.set.map((r) => r[k]);
    await client.query(
      `insert into metadata (entity_type, entity_id, key, value, created_position, created_ordinal, created_at, modified_at)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::timestamptz[], $8::timestamptz[])
       on conflict (entity_type, entity_id, key) do update set value = excluded.value, modified_at = excluded.modified_at`,
      [column('entity_type'), column('entity_id'), column('key'), column('value'), column('created_position'), column('created_ordinal'), column('created_at'), column('modified_at')]);
  },
  bulk: bulkFold,
};
