import type { Caller } from '../commands/caller.js';
import { childEventTypes, childStreamId, isLiveChildOf, type ChildState } from '../commands/child-resources/index.js';
import { diagrams } from '../commands/diagrams/index.js';
import { conflict, notFound } from '../commands/errors.js';
import { userFromCaller } from '../commands/threat-models/authorization.js';
import type { AppendResult, NewEvent, StreamCondition } from '../events/types.js';
import { collaborationDecider, type CollaborationCommand, type CollaborationState } from '../realtime/sessions/decide.js';
import { collaborationStreamId } from '../realtime/sessions/events.js';
import { threatModelStreamId } from '../commands/threat-models/events.js';
import type { Services } from '../services.js';
import { parentScope } from './child-commands.js';
import { threatModelDecider } from './threat-models.js';
import { loadAggregate } from './execute-command.js';
import type { PlannedCommand } from './multi-stream-command.js';

/** The names a session's answer shows, as the events have them (a 202 answers before the read tables know the session). */
export interface SessionNames { threat_model_name: string; diagram_name: string }

export interface CollaborationResult { state: CollaborationState; started: boolean; names: SessionNames }

type Body = { type: 'Join'; session_id: string } | { type: 'Remove'; user_id: string } | { type: 'End'; reason: string; session_id?: string };

const diagramName = (state: ChildState<{ name: string }>): string => (state.exists ? state.fields.name : '');

/**
 * A command on a diagram's collaboration (join or start its session, end it), decided in the
 * diagram's scope: the caller's role on its threat model as the child commands read it, and a
 * live diagram of that threat model. The append relies on both — the parent's access and the
 * diagram not being deleted since — so a session never starts on a diagram that just went away.
 */
export function collaborationCommand(services: Services, caller: Caller, threatModelId: string, diagramId: string, body: Body): PlannedCommand<CollaborationResult> {
  const streamId = collaborationStreamId(diagramId);
  const diagramStream = childStreamId('diagram', diagramId);
  return {
    async decide() {
      const scope = await parentScope(services, caller, threatModelId);
      const diagram = await loadAggregate(services, diagrams.decider, diagramStream);
      if (!isLiveChildOf(diagram.state, threatModelId)) throw notFound('diagram not found');
      const { state, version } = await loadAggregate(services, collaborationDecider, streamId);
      const actor = { user_id: caller.user_id, user: userFromCaller(caller), role: scope.role, now: new Date().toISOString() };
      const command: CollaborationCommand = body.type === 'Join'
        ? { type: 'Join', actor, session_id: body.session_id, threat_model_id: threatModelId, diagram_id: diagramId, diagram_version: diagram.version }
        : body.type === 'Remove' ? { type: 'Remove', actor, user_id: body.user_id }
          : { type: 'End', actor, reason: body.reason, ...(body.session_id ? { session_id: body.session_id } : {}) };
      const events = collaborationDecider.decide(command, state);
      return {
        appends: [{ stream_id: streamId, stream_type: collaborationDecider.streamType, expected: version === 0 ? 'no_stream' : version, events: events as NewEvent[] }],
        conditions: [scope.condition, { stream_id: diagramStream, unchanged_since: diagram.version, types: [childEventTypes(diagrams.resource.label).deleted] }],
        result: {
          state: events.reduce(collaborationDecider.evolve, state), started: events.some((e) => e.type === 'CollaborationSessionStarted'),
          names: { threat_model_name: scope.name, diagram_name: diagramName(diagram.state) },
        },
      };
    },
    async replay(original: AppendResult) {
      const toVersion = Math.max(...original.events.filter((e) => e.stream_id === streamId).map((e) => e.version));
      const { state } = await loadAggregate(services, collaborationDecider, streamId, { toVersion });
      // The names as they are now, beside the session as the original left it: a replay's answer names
      // the threat model and diagram the caller would find, and a rename since changes no session.
      const [threatModel, diagram] = await Promise.all([
        loadAggregate(services, threatModelDecider, threatModelStreamId(threatModelId)), loadAggregate(services, diagrams.decider, diagramStream),
      ]);
      const names = { threat_model_name: threatModel.state.exists ? threatModel.state.name : '', diagram_name: diagramName(diagram.state) };
      return { state, started: original.events.some((e) => e.type === 'CollaborationSessionStarted'), names };
    },
  };
}

/**
 * TMI's rule for a diagram in a live collaboration session: its REST writes (PUT, PATCH, delete,
 * metadata) answer 409, the session's operations being the one way its cells change. The append
 * relies on no session starting meanwhile, so a write decided just before a start cannot land after it.
 */
export async function noActiveSession(services: Services, diagramIds: readonly string[]): Promise<StreamCondition[]> {
  return Promise.all(diagramIds.map(async (id) => {
    const streamId = collaborationStreamId(id);
    const { state, version } = await loadAggregate(services, collaborationDecider, streamId);
    if (state.session) {
      throw conflict('the diagram is being edited in a collaboration session: change it there, or end the session first');
    }
    return { stream_id: streamId, unchanged_since: version, types: ['CollaborationSessionStarted'] };
  }));
}
