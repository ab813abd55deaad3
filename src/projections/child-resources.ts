import { COUNT_COLUMN_OF, childEventTypes, type ChildCreated, type ChildChanged, type ChildDeleted, type ChildResource, type ChildRestored } from '../commands/child-resources/index.js';
import type { MetadataEvent } from '../commands/metadata/events.js';
import type { Projection } from './projection.js';
import type { ChildCountRule } from './threat-models.js';

/**
 * One projector shape for every kind of child resource: a row per child with its fields whole
 * (lists filter on the table's generated columns, see db/migrations/0011), its version (the
 * stream's) and its soft-delete mark. Metadata lives in the metadata projection; here a metadata
 * change only moves the child's version and modification time.
 */
export function childProjection(resource: Pick<ChildResource, 'kind' | 'label' | 'plural' | 'fieldEvents'>): Projection {
  const types = childEventTypes(resource.label);
  const own = resource.fieldEvents?.definitions.map((d) => d.type) ?? [];
  const table = resource.plural;
  const t = `"${table}"`;
  return {
    name: table,
    version: 1,
    handles: [types.created, types.changed, types.deleted, types.restored, 'MetadataEntriesSet', 'MetadataEntriesRemoved', ...own],
    tables: [table],
    onPoison: 'halt',
    async apply(event, client) {
      // A row that is not there (or already is) means an event was skipped or applied twice: fail loudly.
      const expectOne = (rowCount: number | null) => {
        if (rowCount !== 1) throw new Error(`${event.type} for ${event.stream_id} found no ${resource.kind} row to change`);
      };
      switch (event.type) {
        case types.created: {
          const d = event.data as ChildCreated<unknown>;
          await client.query(
            `insert into ${t} (id, threat_model_id, alias, fields, auto_generated, version, created_at, modified_at)
             values ($1, $2, $3, $4, $5, $6, $7, $7)`,
            [d.id, d.threat_model_id, d.alias, JSON.stringify(d.fields), d.auto_generated, event.version, d.created_at]);
          return;
        }
        case types.changed: {
          const d = event.data as ChildChanged<unknown>;
          expectOne((await client.query(`update ${t} set fields = $2, version = $3, modified_at = $4 where id = $1`,
            [d.id, JSON.stringify(d.fields), event.version, d.modified_at])).rowCount);
          return;
        }
        case types.deleted: {
          const d = event.data as ChildDeleted;
          expectOne((await client.query(`update ${t} set deleted_at = $2, version = $3 where id = $1`, [d.id, d.deleted_at, event.version])).rowCount);
          return;
        }
        case types.restored: {
          const d = event.data as ChildRestored;
          expectOne((await client.query(`update ${t} set deleted_at = null, version = $2, modified_at = $3 where id = $1`,
            [d.id, event.version, d.restored_at])).rowCount);
          return;
        }
        case 'MetadataEntriesSet':
        case 'MetadataEntriesRemoved': {
          const m = (event as unknown as MetadataEvent).data;
          if (m.entity_type !== resource.kind) return;
          expectOne((await client.query(`update ${t} set version = $2, modified_at = $3 where id = $1`, [m.entity_id, event.version, m.at])).rowCount);
          return;
        }
        default: {
          if (!own.includes(event.type)) return;
          // The kind's own change of its fields, by the same function the evolver folds with.
          const d = event.data as { id: string; modified_at: string };
          const { rows } = await client.query<{ fields: object }>(`select fields from ${t} where id = $1 for update`, [d.id]);
          if (rows.length !== 1) throw new Error(`${event.type} for ${event.stream_id} found no ${resource.kind} row to change`);
          await client.query(`update ${t} set fields = $2, version = $3, modified_at = $4 where id = $1`,
            [d.id, JSON.stringify(resource.fieldEvents!.apply(rows[0]!.fields as Record<string, unknown>, event)), event.version, d.modified_at]);
        }
      }
    },
  };
}

/** How each kind's lifecycle moves its count on the parent threat model: created and restored +1, deleted -1. */
export function childCountRules(resources: readonly Pick<ChildResource, 'kind' | 'label'>[]): Record<string, ChildCountRule> {
  const rules: Record<string, ChildCountRule> = {};
  for (const r of resources) {
    const types = childEventTypes(r.label);
    const column = COUNT_COLUMN_OF[r.kind];
    rules[types.created] = { column, delta: () => 1 };
    rules[types.restored] = { column, delta: () => 1 };
    rules[types.deleted] = { column, delta: () => -1 };
  }
  return rules;
}
