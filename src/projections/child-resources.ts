import { COUNT_COLUMN_OF, childEventTypes, type ChildCreated, type ChildChanged, type ChildDeleted, type ChildResource, type ChildRestored } from '../commands/child-resources/index.js';
import type { MetadataEvent } from '../commands/metadata/events.js';
import type { PoolClient } from 'pg';
import type { StoredEvent } from '../events/types.js';
import { KeyedRows, type BulkRow } from './bulk.js';
import { rowSql } from './row-sql.js';
import type { Projection } from './projection.js';
import type { ChildCountRule } from './threat-models.js';

/** A child's row as the projection keeps it (the table's generated columns follow from `fields`). */
interface ChildRow extends BulkRow {
  id: string; threat_model_id: string; alias: number; fields: unknown; auto_generated: boolean;
  version: number; created_at: string; modified_at: string; deleted_at: string | null;
}

/** What one event does to the child rows: a new row, columns set on one, or (the kind's own field events) columns computed from its fields. */
type ChildChange =
  | { insert: ChildRow }
  | { id: string; set: Partial<ChildRow> }
  | { id: string; derive: (fields: Record<string, unknown>) => Partial<ChildRow> }
  | null;

type Resource = Pick<ChildResource, 'kind' | 'label' | 'plural' | 'fieldEvents'>;

/** The row change of one event: the one computation both the per-event apply and the bulk fold carry out. */
function childChange(resource: Resource, event: StoredEvent): ChildChange {
  const types = childEventTypes(resource.label);
  switch (event.type) {
    case types.created: {
      const d = event.data as ChildCreated<unknown>;
      return { insert: { id: d.id, threat_model_id: d.threat_model_id, alias: d.alias, fields: d.fields, auto_generated: d.auto_generated,
        version: event.version, created_at: d.created_at, modified_at: d.created_at, deleted_at: null } };
    }
    case types.changed: {
      const d = event.data as ChildChanged<unknown>;
      return { id: d.id, set: { fields: d.fields, version: event.version, modified_at: d.modified_at } };
    }
    case types.deleted: {
      const d = event.data as ChildDeleted;
      return { id: d.id, set: { deleted_at: d.deleted_at, version: event.version } };
    }
    case types.restored: {
      const d = event.data as ChildRestored;
      return { id: d.id, set: { deleted_at: null, version: event.version, modified_at: d.restored_at } };
    }
    case 'MetadataEntriesSet':
    case 'MetadataEntriesRemoved': {
      const m = (event as unknown as MetadataEvent).data;
      return m.entity_type === resource.kind ? { id: m.entity_id, set: { version: event.version, modified_at: m.at } } : null;
    }
    default: {
      if (!resource.fieldEvents?.definitions.some((d) => d.type === event.type)) return null;
      // The kind's own change of its fields, by the same function the evolver folds with.
      const d = event.data as { id: string; modified_at: string };
      return { id: d.id, derive: (fields) => ({ fields: resource.fieldEvents!.apply(fields, event), version: event.version, modified_at: d.modified_at }) };
    }
  }
}


/**
 * One projector shape for every kind of child resource: a row per child with its fields whole
 * (lists filter on the table's generated columns, see db/migrations/0011), its version (the
 * stream's) and its soft-delete mark. Metadata lives in the metadata projection; here a metadata
 * change only moves the child's version and modification time.
 */
export function childProjection(resource: Resource): Projection {
  const types = childEventTypes(resource.label);
  const own = resource.fieldEvents?.definitions.map((d) => d.type) ?? [];
  const table = resource.plural;
  const t = `"${table}"`;
  const missing = (event: StoredEvent) => new Error(`${event.type} for ${event.stream_id} found no ${resource.kind} row to change`);
  const update = async (client: PoolClient, event: StoredEvent, id: string, set: Partial<ChildRow>) => {
    const sql = rowSql(set, 2);
    const { rowCount } = await client.query(`update ${t} set ${sql.assignments} where id = $1`, [id, ...sql.values]);
    // A row that is not there means an event was skipped or applied twice: fail loudly.
    if (rowCount !== 1) throw missing(event);
  };
  return {
    name: table,
    version: 1,
    handles: [types.created, types.changed, types.deleted, types.restored, 'MetadataEntriesSet', 'MetadataEntriesRemoved', ...own],
    tables: [table],
    onPoison: 'halt',
    async apply(event, client) {
      const change = childChange(resource, event);
      if (!change) return;
      if ('insert' in change) {
        const sql = rowSql(change.insert);
        await client.query(`insert into ${t} (${sql.columns}) values (${sql.placeholders})`, sql.values);
      } else if ('set' in change) {
        await update(client, event, change.id, change.set);
      } else {
        const { rows } = await client.query<{ fields: Record<string, unknown> }>(`select fields from ${t} where id = $1 for update`, [change.id]);
        if (rows.length !== 1) throw missing(event);
        await update(client, event, change.id, change.derive(rows[0]!.fields));
      }
    },
    bulk() {
      const rows = new KeyedRows<ChildRow>();
      return {
        add(event) {
          const change = childChange(resource, event);
          if (!change) return;
          if ('insert' in change) return rows.insert(change.insert.id, change.insert);
          const row = rows.get(change.id);
          if (!row) throw missing(event);
          // Through JSON, as the row would come back from its jsonb column.
          Object.assign(row, 'set' in change ? change.set : change.derive(JSON.parse(JSON.stringify(row.fields)) as Record<string, unknown>));
        },
        rows: () => [[table, rows.values()]],
      };
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
