import { Type } from '@sinclair/typebox';
import { EventCatalog } from '../../src/events/catalog.js';
import type { EventMetadata } from '../../src/events/types.js';

/** A small catalog for store-level tests, independent of the domain's event types. */
export function testCatalog(): EventCatalog {
  return new EventCatalog().register(
    { type: 'CounterIncremented', version: 1, schema: Type.Object({ by: Type.Integer() }, { additionalProperties: false }) },
    { type: 'CounterNamed', version: 1, schema: Type.Object({ name: Type.String() }, { additionalProperties: false }) },
    {
      // v1 stored {text}; v2 is {title, body}: old events are read through the upcaster.
      type: 'NoteWritten', version: 2,
      schema: Type.Object({ title: Type.String(), body: Type.String() }, { additionalProperties: false }),
      upcasters: { 1: (d) => ({ title: '(untitled)', body: (d as { text: string }).text }) },
    },
  );
}

export const testMetadata = (over: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: { user_id: 'u-1', email: 'alice@tmi.local', provider: 'tmi' },
  trace_id: 'trace-1',
  correlation_id: 'corr-1',
  causation_id: null,
  request_id: 'req-1',
  ...over,
});
