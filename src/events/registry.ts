import { EventCatalog } from './catalog.js';
import { CHILD_AGGREGATES } from '../commands/children.js';
import { metadataEventDefinitions } from '../commands/metadata/events.js';
import { threatModelEventDefinitions } from '../commands/threat-models/events.js';
import { tokenEventDefinitions } from '../commands/tokens/events.js';
import { userEventDefinitions } from '../commands/users/events.js';
import { collaborationEventDefinitions } from '../realtime/sessions/events.js';
import { retentionEventDefinitions } from '../retention/events.js';

/**
 * The catalog of every event type the service writes. Each domain module contributes its
 * definitions here, so the store can validate every append and upcast every read.
 */
export const eventCatalog = new EventCatalog();

eventCatalog.register(...userEventDefinitions, ...tokenEventDefinitions);
eventCatalog.register(...threatModelEventDefinitions, ...metadataEventDefinitions);
eventCatalog.register(...CHILD_AGGREGATES.flatMap((a) => a.eventDefinitions));
eventCatalog.register(...collaborationEventDefinitions);
eventCatalog.register(...retentionEventDefinitions);
