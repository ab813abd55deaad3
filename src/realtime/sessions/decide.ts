import { forbidden, invalid, notFound } from '../../commands/errors.js';
import type { Role, User } from '../../commands/threat-models/values.js';
import { COLLABORATION_STREAM_TYPE, type CollaborationEvent, type Permission } from './events.js';

export interface Participant { user_id: string; user: User; permissions: Permission; joined_at: string }

export interface ActiveSession {
  session_id: string;
  threat_model_id: string;
  diagram_id: string;
  host: User;
  host_user_id: string;
  presenter: User | null;
  participants: Participant[];
  /** Users the host removed: they cannot join this session again (TMI's deny list). */
  removed: string[];
  started_at: string;
  /** The diagram's stream version when it started (0 when not recorded): the session's operations come after it. */
  diagram_version: number;
}

/** A diagram's collaboration: its active session, if any. */
export interface CollaborationState { session: ActiveSession | null }

/**
 * Who acts, with their role on the threat model (the command's scope read it): every
 * collaboration command needs at least reader, which the scope already required.
 */
interface Actor { user_id: string; user: User; role: Role; now: string }

export type CollaborationCommand =
  | { type: 'Join'; actor: Actor; session_id: string; threat_model_id: string; diagram_id: string; diagram_version?: number }
  | { type: 'Remove'; actor: Actor; user_id: string }
  | { type: 'End'; actor: Actor; reason: string; /** Only this session: a late end for an older one finds nothing. */ session_id?: string }
  /** The service ends a session nobody uses any more (the retention sweep): no one's role is involved. */
  | { type: 'Expire'; session_id: string; reason: string; now: string };

/** Who `ended_by` names when the service itself ended a session. */
export const ENDED_BY_SERVICE = 'system';

/** A reader collaborates read-only; writers and owners edit. */
export const permissionOf = (role: Role): Permission => (role === 'reader' ? 'reader' : 'writer');

export const collaborationDecider = {
  streamType: COLLABORATION_STREAM_TYPE,
  initialState: (): CollaborationState => ({ session: null }),

  evolve(state: CollaborationState, event: CollaborationEvent): CollaborationState {
    switch (event.type) {
      case 'CollaborationSessionStarted': {
        const d = event.data;
        return { session: { ...d, presenter: d.host, participants: [], removed: [], diagram_version: d.diagram_version ?? 0 } };
      }
      case 'CollaborationParticipantJoined': {
        if (!state.session) return state;
        const d = event.data;
        return {
          session: {
            ...state.session,
            participants: [...state.session.participants.filter((p) => p.user_id !== d.user_id), { user_id: d.user_id, user: d.user, permissions: d.permissions, joined_at: d.joined_at }],
          },
        };
      }
      case 'CollaborationParticipantRemoved': {
        if (!state.session) return state;
        const d = event.data;
        return { session: { ...state.session, participants: state.session.participants.filter((p) => p.user_id !== d.user_id), removed: [...state.session.removed, d.user_id] } };
      }
      case 'CollaborationSessionEnded':
        return { session: null };
    }
  },

  /**
   * Join: the diagram's active session gains the caller (nothing when they are in it already);
   * with none active, a new session starts with the caller as host and first presenter (TMI).
   * End: only the host or the threat model's owner ends a session.
   */
  decide(command: CollaborationCommand, state: CollaborationState): CollaborationEvent[] {
    if (command.type === 'Expire') {
      const session = state.session;
      if (!session || session.session_id !== command.session_id) return [];
      return [{
        type: 'CollaborationSessionEnded',
        data: { session_id: session.session_id, threat_model_id: session.threat_model_id, diagram_id: session.diagram_id, ended_by: ENDED_BY_SERVICE, reason: command.reason, ended_at: command.now },
      }];
    }
    const { actor } = command;
    if (command.type === 'Join') {
      const ref = { session_id: state.session?.session_id ?? command.session_id, threat_model_id: command.threat_model_id, diagram_id: command.diagram_id };
      const joined: CollaborationEvent = {
        type: 'CollaborationParticipantJoined',
        data: { ...ref, user_id: actor.user_id, user: actor.user, permissions: permissionOf(actor.role), joined_at: actor.now },
      };
      if (!state.session) {
        const started = { ...ref, host_user_id: actor.user_id, host: actor.user, started_at: actor.now, ...(command.diagram_version !== undefined ? { diagram_version: command.diagram_version } : {}) };
        return [{ type: 'CollaborationSessionStarted', data: started }, joined];
      }
      if (state.session.removed.includes(actor.user_id)) throw forbidden('the host removed you from this collaboration session');
      const present = state.session.participants.find((p) => p.user_id === actor.user_id);
      // A role that changed since the caller joined is recorded anew.
      return present && present.permissions === permissionOf(actor.role) ? [] : [joined];
    }
    const session = state.session;
    if (!session) throw notFound('no collaboration session is active on this diagram');
    if (command.type === 'Remove') {
      if (session.host_user_id !== actor.user_id) throw forbidden('only the session\'s host removes a participant');
      if (command.user_id === actor.user_id) throw invalid('the host cannot remove themselves: end the session instead');
      if (!session.participants.some((p) => p.user_id === command.user_id)) throw notFound('that user is not a participant of this session');
      return [{ type: 'CollaborationParticipantRemoved', data: { session_id: session.session_id, threat_model_id: session.threat_model_id, diagram_id: session.diagram_id, user_id: command.user_id, removed_by: actor.user_id, removed_at: actor.now } }];
    }
    if (command.session_id !== undefined && command.session_id !== session.session_id) throw notFound('that collaboration session has ended already');
    if (session.host_user_id !== actor.user_id && actor.role !== 'owner') throw forbidden('only the session\'s host or the threat model\'s owner ends it');
    return [{
      type: 'CollaborationSessionEnded',
      data: { session_id: session.session_id, threat_model_id: session.threat_model_id, diagram_id: session.diagram_id, ended_by: actor.user_id, reason: command.reason, ended_at: actor.now },
    }];
  },
};
