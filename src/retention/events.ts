import { Type, type Static } from '@sinclair/typebox';
import type { EventDefinition } from '../events/catalog.js';

/**
 * A skipped dead letter removed by the retention sweep. The row was the only record that a
 * projection never applied that event (its read table lacks it for good), so the fact moves into
 * the log before the row goes. Resolved dead letters leave no event: their event was applied.
 */
export const DeadLetterRemovedSchema = Type.Object({
  projection: Type.String({ maxLength: 100 }),
  event_id: Type.String({ maxLength: 36 }),
  event_position: Type.Integer(),
  event_type: Type.String({ maxLength: 200 }),
  error: Type.String(),
  attempts: Type.Integer(),
  skipped_at: Type.String({ maxLength: 64 }),
});
export type DeadLetterRemoved = Static<typeof DeadLetterRemovedSchema>;

export const retentionEventDefinitions: EventDefinition[] = [
  { type: 'DeadLetterRemoved', version: 1, schema: DeadLetterRemovedSchema },
];

export const DEAD_LETTER_STREAM_TYPE = 'dead_letter';
/** One stream per projection and event: the letter's history, whichever row held it. */
export const deadLetterStreamId = (projection: string, eventId: string) => `dead-letter-${projection}-${eventId}`;
