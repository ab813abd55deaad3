import { v7 as uuidv7 } from 'uuid';
import { THREAT_MODEL_ENTITY, THREAT_MODEL_STREAM_TYPE, threatModelStreamId } from '../../src/commands/threat-models/events.js';
import type { AppendResult } from '../../src/events/types.js';
import type { Services } from '../../src/services.js';
import { testMetadata } from './events.js';

/**
 * A poison event for the metadata projector: its event schema takes any key, the read table's
 * check constraint does not, so the projector halts on it. On a threat-model stream with a UUID
 * id, as every real one has (other projectors read the id as a UUID), and the projector woken.
 */
export async function appendPoisonMetadata(services: Services, entityId: string): Promise<AppendResult> {
  const poison = await services.store.appendToStream({
    stream_id: threatModelStreamId(uuidv7()), stream_type: THREAT_MODEL_STREAM_TYPE, expected: 'no_stream',
    events: [{ type: 'MetadataEntriesSet', data: { entity_type: THREAT_MODEL_ENTITY, entity_id: entityId, entries: [{ key: 'not a key!', value: 'v' }], at: new Date().toISOString() } }],
  }, { metadata: testMetadata() });
  services.wakeups.wake(['metadata']);
  return poison;
}
