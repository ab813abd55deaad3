import { Type, type Static } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';
import { User } from '../../commands/threat-models/values.js';

/**
 * A diagram's collaboration sessions, one stream per diagram (`collaboration-<diagram_id>`):
 * at most one session is active at a time, which the stream's version check makes race-free.
 * Joining records who is authorized to the session (TMI's participants); who is connected at a
 * moment is presence, kept by the hub and never persisted.
 */
export const collaborationStreamId = (diagramId: string) => `collaboration-${diagramId}`;
export const COLLABORATION_STREAM_TYPE = 'collaboration';

export const Permission = Type.Union([Type.Literal('reader'), Type.Literal('writer')]);
export type Permission = Static<typeof Permission>;

const Ref = { session_id: Type.String(), threat_model_id: Type.String(), diagram_id: Type.String() };

export const CollaborationSessionStarted = Type.Object({
  ...Ref, host_user_id: Type.String(), host: User, started_at: Type.String(),
  /** The diagram's version when the session started: its operations come after it (what undo reads). */
  diagram_version: Type.Optional(Type.Integer({ minimum: 0 })),
});
export const CollaborationParticipantJoined = Type.Object({ ...Ref, user_id: Type.String(), user: User, permissions: Permission, joined_at: Type.String() });
export const CollaborationParticipantRemoved = Type.Object({ ...Ref, user_id: Type.String(), removed_by: Type.String(), removed_at: Type.String() });
export const CollaborationSessionEnded = Type.Object({ ...Ref, ended_by: Type.String(), reason: Type.String(), ended_at: Type.String() });

export type CollaborationEvent =
  | { type: 'CollaborationSessionStarted'; data: Static<typeof CollaborationSessionStarted> }
  | { type: 'CollaborationParticipantJoined'; data: Static<typeof CollaborationParticipantJoined> }
  | { type: 'CollaborationParticipantRemoved'; data: Static<typeof CollaborationParticipantRemoved> }
  | { type: 'CollaborationSessionEnded'; data: Static<typeof CollaborationSessionEnded> };

export const collaborationEventDefinitions: EventDefinition[] = [
  { type: 'CollaborationSessionStarted', version: 1, schema: CollaborationSessionStarted },
  { type: 'CollaborationParticipantJoined', version: 1, schema: CollaborationParticipantJoined },
  { type: 'CollaborationParticipantRemoved', version: 1, schema: CollaborationParticipantRemoved },
  { type: 'CollaborationSessionEnded', version: 1, schema: CollaborationSessionEnded },
];
