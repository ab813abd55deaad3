import { Type } from '@sinclair/typebox';
import type { StoredEvent } from '../../events/types.js';
import { redactCredentials } from './redact.js';

/** An event as the history feed shows it: as stored (upcast), credential material redacted. */
export const HistoryEvent = Type.Object({
  position: Type.Integer({ minimum: 1 }),
  event_id: Type.String({ format: 'uuid' }),
  stream_id: Type.String(),
  stream_type: Type.String(),
  version: Type.Integer({ minimum: 1 }),
  type: Type.String(),
  schema_version: Type.Integer({ minimum: 1 }),
  data: Type.Unknown(),
  metadata: Type.Unknown(),
  created_at: Type.String({ format: 'date-time' }),
}, { additionalProperties: false });

export const historyEventBody = (e: StoredEvent) => ({
  position: e.position, event_id: e.event_id, stream_id: e.stream_id, stream_type: e.stream_type, version: e.version,
  type: e.type, schema_version: e.schema_version, data: redactCredentials(e.data), metadata: redactCredentials(e.metadata),
  created_at: e.created_at.toISOString(),
});
