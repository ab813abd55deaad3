import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { authModule } from '../../auth/module.js';
import { requireThreatModelRole } from '../../commands/threat-models/authorization.js';
import { activeSessionOf } from '../../queries/collaboration-sessions.js';
import { findThreatModel } from '../../queries/threat-models.js';
import { realtimeOf } from '../../realtime/index.js';
import type { Connection } from '../../realtime/hub.js';
import { collaborationDecider, permissionOf } from '../../realtime/sessions/decide.js';
import { collaborationStreamId } from '../../realtime/sessions/events.js';
import { loadAggregate } from '../../application/execute-command.js';
import type { Services } from '../../services.js';
import { HttpError, forbidden, notFound, unauthorized } from '../errors.js';
import { PUBLIC_ROUTE } from '../plugins/authentication.js';
import { ChildParams, Uuid } from '../schemas/children.js';

const Query = Type.Object({ session_id: Uuid, ticket: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });
type P = { threat_model_id: string; diagram_id: string };

/**
 * TMI's collaboration socket, `…/diagrams/{id}/ws?session_id=…&ticket=…`. A browser cannot send
 * a bearer token with an upgrade, so the route is public and the single-use ticket is the
 * credential: it is redeemed, the session checked (on its stream: a removal the sessions table
 * does not show yet still refuses) and the caller's role on the threat model read again before
 * the upgrade, and any failure is an HTTP answer (401, 403, 404) with no socket.
 */
export const diagramSocketRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const { hub, tickets } = realtimeOf(services);
  const connections = new WeakMap<FastifyRequest, Connection>();

  app.get('/threat_models/:threat_model_id/diagrams/:diagram_id/ws', {
    websocket: true,
    config: PUBLIC_ROUTE,
    schema: { hide: true, params: ChildParams('diagram_id'), querystring: Query },
    preHandler: async (request) => {
      const { threat_model_id: tm, diagram_id: diagram } = request.params as P;
      const { session_id, ticket } = request.query as { session_id: string; ticket: string };
      const grant = await tickets.redeem(ticket, session_id);
      if (!grant) throw unauthorized('the ticket is unknown, expired, used already or for another session: get a new one from /ws/ticket', 'invalid_ticket');
      const { principal } = grant;
      if (authModule(services).revocations.isRevoked(principal.jti, principal.user_id)) throw unauthorized('the access token behind this ticket has been revoked', 'invalid_token');
      const session = await activeSessionOf(services.database.pool, tm, diagram);
      if (!session || session.session_id !== session_id) throw notFound('no such collaboration session is active on this diagram');
      const { role } = requireThreatModelRole(await findThreatModel(services.database.pool, tm), principal, 'reader');
      // Who may join is read from the session's stream, not its projection: a removal (or an end) the table does not show yet still counts.
      const live = (await loadAggregate(services, collaborationDecider, collaborationStreamId(diagram))).state.session;
      if (!live || live.session_id !== session_id) throw notFound('no such collaboration session is active on this diagram');
      if (live.removed.includes(principal.user_id)) throw forbidden('the host removed you from this collaboration session');
      if (!live.participants.some((p) => p.user_id === principal.user_id)) throw forbidden('join the session first (POST …/collaborate)');
      const full = hub.admission({ diagram_id: diagram, principal });
      if (full) throw new HttpError(429, 'rate_limited', full);
      connections.set(request, {
        principal, threat_model_id: tm, diagram_id: diagram, session_id, permissions: permissionOf(role), host: session.host, host_user_id: session.host_user_id, presenter: session.presenter,
      });
    },
  }, async (socket, request) => {
    await hub.connect(socket, connections.get(request)!);
  });
};
