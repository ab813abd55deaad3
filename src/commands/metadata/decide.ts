import { conflict, invalid, notFound } from '../errors.js';
import type { MetadataEvent } from './events.js';

/**
 * The metadata commands every entity supports, decided against the entity's current entries.
 * Each returns the events to append ([] when nothing would change).
 */
export type MetadataCommand =
  | { kind: 'add'; entry: Entry }
  | { kind: 'replace_value'; key: string; value: string }
  | { kind: 'delete'; key: string }
  | { kind: 'bulk_create'; entries: Entry[] }
  | { kind: 'bulk_replace'; entries: Entry[] }
  | { kind: 'bulk_upsert'; entries: Entry[] };

interface Entry { key: string; value: string }

export interface MetadataTarget {
  entity_type: string;
  entity_id: string;
  /** Current entries in order. */
  entries: readonly Entry[];
  /** Most entries the entity may hold. */
  max: number;
}

function refuseDuplicateKeys(entries: readonly Entry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.key)) throw invalid(`metadata key "${e.key}" appears more than once`);
    seen.add(e.key);
  }
}

export function decideMetadata(command: MetadataCommand, target: MetadataTarget, at: string): MetadataEvent[] {
  const current = new Map(target.entries.map((e) => [e.key, e.value]));
  const ref = { entity_type: target.entity_type, entity_id: target.entity_id, at };
  const set = (entries: Entry[]): MetadataEvent[] => {
    const changed = entries.filter((e) => current.get(e.key) !== e.value);
    const added = changed.filter((e) => !current.has(e.key)).length;
    if (current.size + added > target.max) throw invalid(`at most ${target.max} metadata entries are allowed`);
    return changed.length === 0 ? [] : [{ type: 'MetadataEntriesSet', data: { ...ref, entries: changed.map((e) => ({ key: e.key, value: e.value })) } }];
  };
  const remove = (keys: string[]): MetadataEvent[] =>
    keys.length === 0 ? [] : [{ type: 'MetadataEntriesRemoved', data: { ...ref, keys } }];

  switch (command.kind) {
    case 'add':
      if (current.has(command.entry.key)) throw conflict(`metadata key "${command.entry.key}" already exists`);
      return set([command.entry]);
    case 'replace_value':
      if (!current.has(command.key)) throw notFound(`metadata key "${command.key}" not found`);
      return set([{ key: command.key, value: command.value }]);
    case 'delete':
      if (!current.has(command.key)) throw notFound(`metadata key "${command.key}" not found`);
      return remove([command.key]);
    case 'bulk_create': {
      refuseDuplicateKeys(command.entries);
      const existing = command.entries.filter((e) => current.has(e.key)).map((e) => e.key);
      if (existing.length > 0) throw conflict(`metadata keys already exist: ${existing.join(', ')}`);
      return set(command.entries);
    }
    case 'bulk_upsert':
      refuseDuplicateKeys(command.entries);
      return set(command.entries);
    case 'bulk_replace': {
      refuseDuplicateKeys(command.entries);
      const keep = new Set(command.entries.map((e) => e.key));
      const removed = remove([...current.keys()].filter((k) => !keep.has(k)));
      for (const k of current.keys()) if (!keep.has(k)) current.delete(k);
      return [...removed, ...set(command.entries)];
    }
  }
}

/** Applies metadata events to an ordered entry list; shared by every entity's evolve. */
export function evolveMetadata(entries: readonly Entry[], event: MetadataEvent): Entry[] {
  if (event.type === 'MetadataEntriesRemoved') {
    const gone = new Set(event.data.keys);
    return entries.filter((e) => !gone.has(e.key));
  }
  const next = entries.map((e) => ({ ...e }));
  for (const e of event.data.entries) {
    const found = next.find((x) => x.key === e.key);
    if (found) found.value = e.value;
    else next.push({ key: e.key, value: e.value });
  }
  return next;
}
