import { describe, expect, it } from 'vitest';
import { deriveEntries, type AuditedEvent } from '../../src/commands/audit/entries.js';
import type { EventMetadata } from '../../src/events/types.js';

const TM = '0190a000-0000-7000-8000-0000000000aa';
const DIAGRAM = '0190a000-0000-7000-8000-0000000000bb';
const TX = 1_000 * 65_536;

const meta = (over: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: { user_id: 'u', email: 'u@tmi.local', provider: 'tmi' }, trace_id: null, correlation_id: null, causation_id: null, request_id: 'r1', ...over,
});
let n = 0;
const event = (kind: string, id: string) => (type: string, version: number, position: number, metadata: EventMetadata, data: object = {}): AuditedEvent => ({
  event_id: `0190a000-0000-7000-8000-${String(++n).padStart(12, '0')}`, position, stream_id: `${kind}-${id}`, stream_type: kind,
  version, type, data, metadata, created_at: new Date(0),
});
const tmEvent = (type: string, version: number, position: number, metadata: EventMetadata, data: object = {}) =>
  event('threat_model', TM)(type, version, position, metadata, { threat_model_id: TM, ...data });
const diagramEvent = event('diagram', DIAGRAM);

/** How events make entries: one per command and stream, its change type from the event types and the metadata's change kind. */
describe('audit entries derived from events', () => {
  it('one command\'s events on one stream are one entry, of the strongest change type, at the version after the last', () => {
    const [entry] = deriveEntries([
      tmEvent('ThreatModelCreated', 1, TX + 1, meta()),
      tmEvent('MetadataEntriesSet', 2, TX + 2, meta(), { entity_type: 'threat_model', entity_id: TM, entries: [{ key: 'a', value: '1' }] }),
    ]);
    expect(entry).toMatchObject({ object_type: 'threat_model', object_id: TM, threat_model_id: TM, version: 2, change: { change_type: 'created', summary: ['created the threat model', 'set metadata a'] } });
  });

  it('PUT and PATCH as the metadata says; events from before read as updates', () => {
    const entries = deriveEntries([
      tmEvent('ThreatModelDetailsChanged', 3, TX + 65_536, meta({ request_id: 'put', change: 'updated' })),
      tmEvent('ThreatModelDetailsChanged', 4, TX + 2 * 65_536, meta({ request_id: 'patch', change: 'patched' })),
      tmEvent('ThreatModelDetailsChanged', 5, TX + 3 * 65_536, meta({ request_id: 'old' })),
    ]);
    expect(entries.map((e) => e.change.change_type)).toEqual(['updated', 'patched', 'updated']);
  });

  it('a group commit\'s operations make an entry each (their own command ids), a child\'s metadata takes its threat model from its earlier entries', () => {
    const entries = deriveEntries([
      diagramEvent('DiagramCreated', 1, TX + 1, meta(), { threat_model_id: TM, id: DIAGRAM }),
      diagramEvent('DiagramCellsPatched', 2, 2 * TX + 1, meta({ request_id: null, command_id: 'op-1' }), { threat_model_id: TM, id: DIAGRAM, cells: [{}, {}] }),
      diagramEvent('DiagramCellsPatched', 3, 2 * TX + 2, meta({ request_id: null, command_id: 'op-2' }), { threat_model_id: TM, id: DIAGRAM, cells: [{}] }),
      diagramEvent('MetadataEntriesRemoved', 4, 3 * TX, meta({ request_id: 'm' }), { entity_type: 'diagram', entity_id: DIAGRAM, keys: ['x'] }),
    ]);
    expect(entries.map((e) => [e.change.change_type, e.version, e.threat_model_id, e.change.summary.join('; ')])).toEqual([
      ['created', 1, TM, 'created the diagram'],
      ['patched', 2, TM, 'changed 2 cells in a collaboration session'],
      ['patched', 3, TM, 'changed 1 cell in a collaboration session'],
      ['updated', 4, TM, 'removed metadata x'],
    ]);
  });

  it('a rollback\'s events are one rolled_back entry, whatever their types', () => {
    const rollback = meta({ request_id: 'rb', change: 'rolled_back', rolled_back_to: { entry_id: 'e', version: 1 } });
    const [entry] = deriveEntries([
      diagramEvent('DiagramRestored', 5, 4 * TX, rollback, { threat_model_id: TM, id: DIAGRAM }),
      diagramEvent('DiagramChanged', 6, 4 * TX + 1, rollback, { threat_model_id: TM, id: DIAGRAM }),
    ]);
    expect(entry).toMatchObject({ version: 6, change: { change_type: 'rolled_back', summary: ['restored the diagram', 'changed the diagram\'s fields'] } });
  });
});
