import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { awaitPosition } from '../../application/execute-command.js';
import { THREAT_MODEL_PROJECTIONS } from '../../application/threat-models.js';
import { THREAT_DASHBOARD_PROJECTION } from '../../projections/threat-dashboard.js';
import { callerDashboard, threatModelDashboard } from '../../queries/threat-dashboard.js';
import type { Services } from '../../services.js';
import { minPosition } from '../commands.js';
import { principalOf } from '../plugins/authentication.js';
import { ErrorBody } from '../schemas/common.js';
import { ThreatModelId } from '../schemas/threat-models.js';
import { readableThreatModel } from '../threat-model-guard.js';

/** An extension of TMI's API, under its own prefix so it can never collide with a TMI path. */
export const THREAT_DASHBOARD_PREFIX = '/extensions/threat-dashboard';

const tags = ['Extension: threat dashboard'];
const security = [{ bearerAuth: [] }];
const Tally = Type.Record(Type.String(), Type.Integer({ minimum: 0 }));
const Counts = {
  total: Type.Integer({ minimum: 0 }),
  mitigated: Type.Integer({ minimum: 0 }),
  by_severity: Tally,
  by_status: Tally,
  recent: Type.Array(Type.Object({
    threat_model_id: Type.String({ format: 'uuid' }),
    threat_id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    severity: Type.Union([Type.String(), Type.Null()]),
    status: Type.Union([Type.String(), Type.Null()]),
    mitigated: Type.Boolean(),
    change: Type.Union([Type.Literal('created'), Type.Literal('changed'), Type.Literal('deleted'), Type.Literal('restored')]),
    changed_at: Type.String({ format: 'date-time' }),
  })),
};
const Query = Type.Object({
  recent: Type.Integer({ minimum: 0, maximum: 100, default: 10 }),
  min_position: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const PROJECTIONS = [THREAT_DASHBOARD_PROJECTION, ...THREAT_MODEL_PROJECTIONS];

/**
 * How many threats there are by severity, status and mitigated — for one threat model, and
 * across every threat model the caller can read — with the newest changes, from the dashboard
 * projection (`src/projections/threat-dashboard.ts`).
 */
export const threatDashboardRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get(THREAT_DASHBOARD_PREFIX, {
    schema: { tags, security, operationId: 'getThreatDashboard', querystring: Query, response: { 200: Type.Object({ threat_models: Type.Integer({ minimum: 0 }), ...Counts }), ...errors } },
  }, async (request) => {
    await awaitPosition(services, PROJECTIONS, minPosition(request));
    return callerDashboard(services.database.pool, principalOf(request), request.query.recent);
  });

  app.get(`${THREAT_DASHBOARD_PREFIX}/threat_models/:threat_model_id`, {
    schema: { tags, security, operationId: 'getThreatModelThreatDashboard', params: ThreatModelId, querystring: Query, response: { 200: Type.Object({ threat_model_id: Type.String({ format: 'uuid' }), ...Counts }), ...errors } },
  }, async (request) => {
    await awaitPosition(services, PROJECTIONS, minPosition(request));
    const { view } = await readableThreatModel(services, request, request.params.threat_model_id);
    return { threat_model_id: view.id, ...await threatModelDashboard(services.database.pool, view.id, request.query.recent) };
  });
};
