import type { CollaborationEvent } from '../realtime/sessions/events.js';
import type { Projection } from './projection.js';

export const COLLABORATION_SESSIONS_PROJECTION = 'collaboration_sessions';

/** The active session of each diagram and its participants, in the order they joined. */
export const collaborationSessionsProjection: Projection = {
  name: COLLABORATION_SESSIONS_PROJECTION,
  version: 1,
  handles: ['CollaborationSessionStarted', 'CollaborationParticipantJoined', 'CollaborationParticipantRemoved', 'CollaborationSessionEnded'],
  tables: ['collaboration_sessions', 'session_participants'],
  onPoison: 'halt',
  async apply(event, client) {
    const e = { type: event.type, data: event.data } as CollaborationEvent;
    switch (e.type) {
      case 'CollaborationSessionStarted': {
        const d = e.data;
        await client.query(
          `insert into collaboration_sessions (session_id, threat_model_id, diagram_id, host_user_id, host, presenter, started_at)
           values ($1, $2, $3, $4, $5, $5, $6)`,
          [d.session_id, d.threat_model_id, d.diagram_id, d.host_user_id, JSON.stringify(d.host), d.started_at]);
        return;
      }
      case 'CollaborationParticipantJoined': {
        const d = e.data;
        // A participant who joins again (their role changed) keeps their place in the list.
        await client.query(
          `insert into session_participants (session_id, user_id, "user", permissions, joined_at, ordinal) values ($1, $2, $3, $4, $5, $6)
           on conflict (session_id, user_id) do update set "user" = excluded."user", permissions = excluded.permissions`,
          [d.session_id, d.user_id, JSON.stringify(d.user), d.permissions, d.joined_at, event.position]);
        return;
      }
      case 'CollaborationParticipantRemoved':
        await client.query('delete from session_participants where session_id = $1 and user_id = $2', [e.data.session_id, e.data.user_id]);
        return;
      case 'CollaborationSessionEnded':
        await client.query('delete from collaboration_sessions where session_id = $1', [e.data.session_id]);
        return;
    }
  },
};
