import { CHILD_KINDS, childEventTypes } from '../child-resources/definition.js';
import { CHILD_AGGREGATES } from '../children.js';
import { DIAGRAM_CELLS_PATCHED } from '../diagrams/operations.js';
import type { EventMetadata } from '../../events/types.js';

/**
 * TMI's audit trail, derived from events: what one entry says about one command's change of one
 * entity (a threat model or one of its children). Pure, so the projection that keeps the trail
 * and the rollback that answers its new entry derive the same thing from the same events.
 */

export const OBJECT_TYPES = ['threat_model', ...CHILD_KINDS] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

export const CHANGE_TYPES = ['created', 'updated', 'patched', 'deleted', 'rolled_back', 'restored'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** What an entry needs of an event: its place, its type and data, who asked and how. */
export interface AuditedEvent {
  event_id: string;
  position: number;
  stream_id: string;
  stream_type: string;
  version: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  created_at: Date;
}

export interface EntryChange {
  change_type: ChangeType;
  /** Parts of the summary, in the order the events came; joined when the entry is shown. */
  summary: string[];
}

const CHILDREN = CHILD_AGGREGATES.map((a) => a.resource);
const LABELS = Object.fromEntries([['threat_model', 'threat model'], ...CHILDREN.map((r) => [r.kind, r.label.toLowerCase()])]) as Record<ObjectType, string>;

type Lifecycle = 'created' | 'changed' | 'deleted' | 'restored';
const LIFECYCLE = new Map<string, Lifecycle>([
  ['ThreatModelCreated', 'created'],
  ['ThreatModelDetailsChanged', 'changed'],
  ['ThreatModelAccessChanged', 'changed'],
  ['ThreatModelDeleted', 'deleted'],
  ['ThreatModelRestored', 'restored'],
  ...CHILDREN.flatMap((r) => {
    const types = childEventTypes(r.label);
    return (['created', 'changed', 'deleted', 'restored'] as const).map((change) => [types[change], change] as const);
  }),
]);

/** Event types an entry is made of: the lifecycle of every audited entity, metadata and a diagram's cell operations. */
export const AUDITED_EVENT_TYPES: readonly string[] = [...LIFECYCLE.keys(), 'MetadataEntriesSet', 'MetadataEntriesRemoved', DIAGRAM_CELLS_PATCHED];

export const isObjectType = (t: string): t is ObjectType => (OBJECT_TYPES as readonly string[]).includes(t);

/** The entity a stream holds: its stream type is the object type and its id follows the type (`threat-<uuid>`). */
export function objectOf(event: Pick<AuditedEvent, 'stream_id' | 'stream_type'>): { object_type: ObjectType; object_id: string } | null {
  if (!isObjectType(event.stream_type) || !event.stream_id.startsWith(`${event.stream_type}-`)) return null;
  return { object_type: event.stream_type, object_id: event.stream_id.slice(event.stream_type.length + 1) };
}

/** The threat model the event's entity belongs to, when the event names it (a child's metadata events do not). */
export function threatModelNamedBy(event: Pick<AuditedEvent, 'stream_id' | 'stream_type' | 'data'>): string | null {
  const object = objectOf(event);
  if (object?.object_type === 'threat_model') return object.object_id;
  const named = (event.data as { threat_model_id?: unknown } | null)?.threat_model_id;
  return typeof named === 'string' ? named : null;
}

const keysOf = (data: unknown, member: 'entries' | 'keys'): string[] => {
  const list = (data as Record<string, unknown>)[member];
  if (!Array.isArray(list)) return [];
  return list.map((x: unknown) => (typeof x === 'string' ? x : String((x as { key?: unknown }).key)));
};
const listed = (keys: string[]) => (keys.length > 10 ? `${keys.slice(0, 10).join(', ')} and ${keys.length - 10} more` : keys.join(', '));

/** The change one event makes, as the trail names it. */
// Module-level rather than closures in changeOf: it runs for every event of a rebuild, and a closure made per call costs there.
function edited(event: AuditedEvent, summary: string): EntryChange {
  // Before the change kind was recorded PUT and PATCH cannot be told apart: both read as updates.
  return { change_type: event.metadata.change ?? (event.type === DIAGRAM_CELLS_PATCHED ? 'patched' : 'updated'), summary: [summary] };
}

function lifecycleChange(event: AuditedEvent, change_type: 'created' | 'deleted' | 'restored', summary: string): EntryChange {
  return { change_type: event.metadata.change === 'rolled_back' ? 'rolled_back' : change_type, summary: [summary] };
}

export function changeOf(event: AuditedEvent): EntryChange {
  const lifecycle = LIFECYCLE.get(event.type);
  if (lifecycle) {
    const label = LABELS[objectOf(event)?.object_type ?? 'threat_model'];
    switch (lifecycle) {
      case 'created': return lifecycleChange(event, 'created', `created the ${label}`);
      case 'deleted': return lifecycleChange(event, 'deleted', `deleted the ${label}`);
      case 'restored': return lifecycleChange(event, 'restored', `restored the ${label}`);
      case 'changed':
        if (event.type === 'ThreatModelAccessChanged') return edited(event, 'changed the owner or authorization');
        return edited(event, event.type === 'ThreatModelDetailsChanged' ? 'changed the threat model\'s details' : `changed the ${label}'s fields`);
    }
  }
  switch (event.type) {
    case 'MetadataEntriesSet': return edited(event, `set metadata ${listed(keysOf(event.data, 'entries'))}`);
    case 'MetadataEntriesRemoved': return edited(event, `removed metadata ${listed(keysOf(event.data, 'keys'))}`);
    case DIAGRAM_CELLS_PATCHED: {
      const cells = (event.data as { cells?: unknown[] }).cells?.length ?? 0;
      return edited(event, `changed ${cells} cell${cells === 1 ? '' : 's'} in a collaboration session`);
    }
    default: return edited(event, event.type);
  }
}

// When one command's events make one entry, its change type is the strongest of theirs: a create
// with its metadata is a create, a rollback that restores and changes is a rollback.
const STRENGTH: Record<ChangeType, number> = { updated: 0, patched: 1, restored: 2, deleted: 3, created: 4, rolled_back: 5 };

/** An entry's change after one more event of the same command. */
export function mergeChange(a: EntryChange, b: EntryChange): EntryChange {
  const summary = [...a.summary, ...b.summary.filter((s) => !a.summary.includes(s))];
  return { change_type: STRENGTH[b.change_type] > STRENGTH[a.change_type] ? b.change_type : a.change_type, summary };
}

/** The summary shown: the parts joined, a rollback saying which version it went back to. */
export function summaryText(change: EntryChange, metadata: EventMetadata): string {
  const parts = change.summary.join('; ');
  const to = metadata.rolled_back_to;
  return to ? `rolled back to version ${to.version}: ${parts}` : parts;
}

/**
 * Which events belong to one entry: those of one command on one stream — the same transaction
 * (the high bits of the position) and the same request (or idempotency key). Events without
 * either (older internal appends) make an entry each.
 */
export function groupKeyOf(event: Pick<AuditedEvent, 'event_id' | 'metadata'>): string {
  return event.metadata.command_id ?? event.metadata.request_id ?? event.event_id;
}
export const transactionOf = (position: number): number => Math.floor(position / 65_536);

/** One derived entry, before it is stored. */
export interface DerivedEntry {
  id: string;
  threat_model_id: string | null;
  object_type: ObjectType;
  object_id: string;
  version: number;
  change: EntryChange;
  metadata: EventMetadata;
  first_position: number;
  created_at: Date;
}

/** The entries a run of events makes, grouped as the projection groups them (one stream's events of one append make one). */
export function deriveEntries(events: readonly AuditedEvent[]): DerivedEntry[] {
  const entries: (DerivedEntry & { key: string; stream_id: string; tx: number })[] = [];
  for (const event of events) {
    const object = objectOf(event);
    if (!object || !AUDITED_EVENT_TYPES.includes(event.type)) continue;
    const key = groupKeyOf(event);
    const tx = transactionOf(event.position);
    const last = entries.findLast((e) => e.stream_id === event.stream_id);
    if (last && last.key === key && last.tx === tx) {
      last.change = mergeChange(last.change, changeOf(event));
      last.version = event.version;
      continue;
    }
    entries.push({
      id: event.event_id, threat_model_id: threatModelNamedBy(event) ?? last?.threat_model_id ?? null, ...object, version: event.version,
      change: changeOf(event), metadata: event.metadata, first_position: event.position, created_at: event.created_at,
      key, stream_id: event.stream_id, tx,
    });
  }
  return entries.map(({ key: _k, stream_id: _s, tx: _t, ...entry }) => entry);
}
