import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { collaborationCommand, type CollaborationResult } from '../../application/collaboration.js';
import { User } from '../../commands/threat-models/values.js';
import { COLLABORATION_SESSIONS_PROJECTION } from '../../projections/collaboration-sessions.js';
import { activeSessionOf, activeSessionsFor, sessionById, type SessionView } from '../../queries/collaboration-sessions.js';
import { realtimeOf } from '../../realtime/index.js';
import type { Services } from '../../services.js';
import { awaitPosition } from '../../application/execute-command.js';
import { executePlannedCommand } from '../../application/multi-stream-command.js';
import { commandOptions, commandStatus, minPosition } from '../commands.js';
import { notFound } from '../errors.js';
import { principalOf } from '../plugins/authentication.js';
import { ChildParams, Uuid } from '../schemas/children.js';
import { ErrorBody, NoBody } from '../schemas/common.js';
import { readableThreatModel } from '../threat-model-guard.js';

const Participant = Type.Object({ user: User, last_activity: Type.String({ format: 'date-time' }), permissions: Type.Union([Type.Literal('reader'), Type.Literal('writer')]) });
/** TMI's CollaborationSession: who is authorized to the session (not who is connected now) and where its socket is. */
const CollaborationSession = Type.Object({
  session_id: Uuid, host: User, presenter: Type.Optional(User), threat_model_id: Uuid, threat_model_name: Type.String(),
  diagram_id: Uuid, diagram_name: Type.String(), participants: Type.Array(Participant), websocket_url: Type.String(),
});

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const Params = ChildParams('diagram_id');
type P = { threat_model_id: string; diagram_id: string };
const PROJECTIONS = [COLLABORATION_SESSIONS_PROJECTION];

/**
 * Collaboration sessions over REST: `…/diagrams/{id}/collaborate` (get, start or join, end),
 * `GET /me/sessions` and `GET /ws/ticket`, which trades the bearer token for the single-use
 * ticket a browser's WebSocket can carry. The sessions are events (src/realtime/sessions).
 */
export const collaborationRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const { hub, tickets } = realtimeOf(services);
  const socketBase = services.config.server.public_url.replace(/\/$/, '').replace(/^http/, 'ws');
  const view = (s: SessionView) => ({
    session_id: s.session_id, host: s.host, ...(s.presenter ? { presenter: s.presenter } : {}),
    threat_model_id: s.threat_model_id, threat_model_name: s.threat_model_name, diagram_id: s.diagram_id, diagram_name: s.diagram_name,
    participants: s.participants.map((p) => ({ user: p.user, last_activity: new Date(p.joined_at).toISOString(), permissions: p.permissions })),
    websocket_url: `${socketBase}/threat_models/${s.threat_model_id}/diagrams/${s.diagram_id}/ws?session_id=${s.session_id}`,
  });

  /** The session the command's events left, named as the events name its threat model and diagram. */
  const sessionOf = ({ state, names }: CollaborationResult): SessionView | null => {
    if (!state.session) return null;
    const { session_id, threat_model_id, diagram_id, host, presenter, host_user_id, participants } = state.session;
    return { session_id, threat_model_id, diagram_id, host, presenter, host_user_id, participants, ...names };
  };

  async function current(request: FastifyRequest) {
    const { threat_model_id: tm, diagram_id: diagram } = request.params as P;
    await awaitPosition(services, PROJECTIONS, minPosition(request));
    await readableThreatModel(services, request, tm);
    const session = await activeSessionOf(services.database.pool, tm, diagram);
    if (!session) throw notFound('no collaboration session is active on this diagram');
    return session;
  }

  const collaborate = '/threat_models/:threat_model_id/diagrams/:diagram_id/collaborate';
  app.get(collaborate, { schema: { tags: ['Collaboration'], security, params: Params, response: { 200: CollaborationSession, ...errors } } },
    async (request) => view(await current(request)));

  app.post(collaborate, { schema: { tags: ['Collaboration'], security, params: Params, response: { 200: CollaborationSession, 201: CollaborationSession, ...errors } } },
    async (request, reply) => {
      const { threat_model_id: tm, diagram_id: diagram } = request.params as P;
      const outcome = await executePlannedCommand(services, collaborationCommand(services, principalOf(request), tm, diagram, { type: 'Join', session_id: uuidv7() }),
        commandOptions(request, services, { streamId: '', projections: PROJECTIONS, ifMatch: 'ignored' }));
      const code = commandStatus(request, reply, { ...outcome, version: null }, outcome.result.started ? 201 : 200);
      // The session as the read table shows it once the command is visible there; a 202 answers
      // before that, with the session as the command left it.
      const session = (code === 202 ? null : await activeSessionOf(services.database.pool, tm, diagram)) ?? sessionOf(outcome.result);
      if (!session) throw notFound('no collaboration session is active on this diagram');
      return reply.code(code).send(view(session));
    });

  app.delete(collaborate, { schema: { tags: ['Collaboration'], security, params: Params, response: { 202: NoBody, 204: NoBody, ...errors } } },
    async (request, reply) => {
      const { threat_model_id: tm, diagram_id: diagram } = request.params as P;
      const outcome = await executePlannedCommand(services, collaborationCommand(services, principalOf(request), tm, diagram, { type: 'End', reason: 'ended_by_request' }),
        commandOptions(request, services, { streamId: '', projections: PROJECTIONS, ifMatch: 'ignored' }));
      hub.endSession(diagram, 'ended by request');
      return reply.code(commandStatus(request, reply, { ...outcome, version: null }, 204)).send();
    });

  // TMI answers an array here, though the contract's schema says object: TMI's clients read an array.
  // The contract's answer is an object (its example: `{sessions: [...]}`), each item TMI's CollaborationSession.
  app.get('/me/sessions', { schema: { tags: ['Collaboration'], security, response: { 200: Type.Object({ sessions: Type.Array(CollaborationSession) }), 401: ErrorBody } } },
    async (request) => ({ sessions: (await activeSessionsFor(services.database.pool, principalOf(request))).map(view) }));

  app.get('/ws/ticket', {
    schema: { tags: ['Collaboration'], security, querystring: Type.Object({ session_id: Uuid }, { additionalProperties: false }), response: { 200: Type.Object({ ticket: Type.String() }), ...errors } },
  }, async (request, reply) => {
    const { session_id } = request.query as { session_id: string };
    const caller = principalOf(request);
    const session = await sessionById(services.database.pool, session_id);
    // TMI: a ticket is for a participant of the session (POST …/collaborate joins it); anyone else finds no session.
    if (!session || !session.participants.some((p) => p.user_id === caller.user_id)) throw notFound('session not found, or you have not joined it');
    // A ticket is a credential: no cache may keep it.
    reply.header('cache-control', 'no-store');
    return { ticket: await tickets.issue({ principal: caller, session_id }) };
  });
};
