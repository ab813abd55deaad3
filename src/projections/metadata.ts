import { METADATA_EVENT_TYPES, type MetadataEvent } from '../commands/metadata/events.js';
import type { Projection } from './projection.js';

export const METADATA_PROJECTION = 'metadata';

/** Key/value metadata of every entity type, from the shared metadata events. */
export const metadataProjection: Projection = {
  name: METADATA_PROJECTION,
  version: 1,
  handles: METADATA_EVENT_TYPES,
  tables: ['metadata'],
  onPoison: 'halt',
  async apply(event, client) {
    const e = { type: event.type, data: event.data } as MetadataEvent;
    const { entity_type, entity_id, at } = e.data;
    if (e.type === 'MetadataEntriesRemoved') {
      await client.query('delete from metadata where entity_type = $1 and entity_id = $2 and key = any($3::text[])', [entity_type, entity_id, e.data.keys]);
      return;
    }
    await client.query(
      `insert into metadata (entity_type, entity_id, key, value, created_position, created_ordinal, created_at, modified_at)
       select $1, $2, k, v, $3, o, $4, $4 from unnest($5::text[], $6::text[]) with ordinality as x(k, v, o)
       on conflict (entity_type, entity_id, key) do update set value = excluded.value, modified_at = excluded.modified_at`,
      [entity_type, entity_id, event.position, at, e.data.entries.map((x) => x.key), e.data.entries.map((x) => x.value)]);
  },
};
