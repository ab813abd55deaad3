import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { awaitPosition, executeCommand } from '../../application/execute-command.js';
import { THREAT_MODEL_PROJECTIONS, nextAlias, threatModelDecider } from '../../application/threat-models.js';
import type { ThreatModelCommand } from '../../commands/threat-models/decide.js';
import { threatModelStreamId } from '../../commands/threat-models/events.js';
import type { ThreatModelState } from '../../commands/threat-models/state.js';
import { listThreatModels } from '../../queries/threat-models.js';
import type { Services } from '../../services.js';
import { acceptJsonPatch, commandOptions, commandStatus, minPosition } from '../commands.js';
import { principalOf } from '../plugins/authentication.js';
import { ErrorBody, NoBody } from '../schemas/common.js';
import {
  JsonPatchDocument, ListThreatModelsQuery, ListThreatModelsResponse, ThreatModel, ThreatModelId, ThreatModelInput,
} from '../schemas/threat-models.js';
import { readableThreatModel } from '../threat-model-guard.js';
import { listItemBody, threatModelBody } from '../views/threat-models.js';
import { CHILD_PROJECTIONS, childArrays, childArraysOf, noChildren, withChildArrays } from '../children/full-body.js';
import { asOfOf, ItemReadQuery, threatModelThen } from '../as-of.js';

type CommandBody = ThreatModelCommand extends infer C ? C extends unknown ? Omit<C, 'caller' | 'now'> : never : never;

/**
 * Runs a threat model command for the request's caller and returns the outcome; shared by
 * the threat model routes and its metadata routes.
 */
export async function runThreatModelCommand(
  services: Services, request: FastifyRequest, id: string, command: CommandBody,
  ifMatch: 'expected' | 'optional' = 'optional',
) {
  const options = {
    ...commandOptions(request, services, { streamId: threatModelStreamId(id), projections: THREAT_MODEL_PROJECTIONS, ifMatch }),
    newStream: command.type === 'CreateThreatModel',
  };
  const full = { ...command, caller: principalOf(request), now: new Date().toISOString() } as ThreatModelCommand;
  return executeCommand(services, threatModelDecider, full, options);
}

export function existing(state: ThreatModelState) {
  if (!state.exists) throw new Error('a successful threat model command left no threat model');
  return state;
}

const tags = ['Threat Models'];
// TMI's ThreatModel answers carry the child arrays; the list items do not.
const FullThreatModel = withChildArrays(ThreatModel);
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** `/threat_models` and `/threat_models/{threat_model_id}` (+ restore). */
export const threatModelRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  acceptJsonPatch(app);
  const fullBody = async (tm: ReturnType<typeof existing>, version: number) => ({ ...threatModelBody(tm, version), ...await childArrays(services, tm.id) });

  app.get('/threat_models', {
    schema: { tags, security, operationId: 'listThreatModels', querystring: ListThreatModelsQuery, response: { 200: ListThreatModelsResponse, ...errors } },
  }, async (request) => {
    const { limit, offset, min_position: _m, ...filters } = request.query;
    await awaitPosition(services, THREAT_MODEL_PROJECTIONS, minPosition(request));
    const { items, total } = await listThreatModels(services.database.pool, principalOf(request), filters, limit, offset);
    return { threat_models: items.map((tm) => listItemBody(tm, tm.counts)), total, limit, offset };
  });

  app.post('/threat_models', {
    schema: { tags, security, operationId: 'createThreatModel', body: ThreatModelInput, response: { 201: FullThreatModel, 202: FullThreatModel, ...errors } },
  }, async (request, reply) => {
    const id = uuidv7();
    const alias = await nextAlias(services.database.pool);
    const outcome = await runThreatModelCommand(services, request, id, { type: 'CreateThreatModel', threat_model_id: id, alias, input: request.body });
    const tm = existing(outcome.state);
    reply.header('Location', `/threat_models/${tm.id}`);
    return reply.code(commandStatus(request, reply, outcome, 201)).send({ ...threatModelBody(tm, outcome.version), ...noChildren() });
  });

  app.get('/threat_models/:threat_model_id', {
    schema: { tags, security, operationId: 'getThreatModel', params: ThreatModelId, querystring: ItemReadQuery, response: { 200: FullThreatModel, ...errors } },
  }, async (request, reply) => {
    const asOf = asOfOf(request);
    const { view } = await readableThreatModel(services, request, request.params.threat_model_id);
    if (asOf) {
      const { threatModel, children } = await threatModelThen(services, reply, view.id, asOf);
      reply.header('ETag', `"${threatModel.version}"`);
      return { ...threatModelBody(threatModel, threatModel.version), ...childArraysOf((r) => children.get(r.kind)!) };
    }
    await awaitPosition(services, CHILD_PROJECTIONS, minPosition(request));
    reply.header('ETag', `"${view.version}"`);
    return { ...threatModelBody(view, view.version), ...await childArrays(services, view.id) };
  });

  app.put('/threat_models/:threat_model_id', {
    schema: { tags, security, operationId: 'updateThreatModel', params: ThreatModelId, body: ThreatModelInput, response: { 200: FullThreatModel, 202: FullThreatModel, ...errors, 409: ErrorBody, 428: ErrorBody } },
  }, async (request, reply) => {
    const outcome = await runThreatModelCommand(services, request, request.params.threat_model_id, { type: 'ReplaceThreatModel', input: request.body }, 'expected');
    return reply.code(commandStatus(request, reply, outcome, 200)).send(await fullBody(existing(outcome.state), outcome.version));
  });

  app.patch('/threat_models/:threat_model_id', {
    schema: { tags, security, operationId: 'patchThreatModel', params: ThreatModelId, body: JsonPatchDocument, response: { 200: FullThreatModel, 202: FullThreatModel, ...errors, 409: ErrorBody, 428: ErrorBody } },
  }, async (request, reply) => {
    const outcome = await runThreatModelCommand(services, request, request.params.threat_model_id, { type: 'PatchThreatModel', operations: request.body }, 'expected');
    return reply.code(commandStatus(request, reply, outcome, 200)).send(await fullBody(existing(outcome.state), outcome.version));
  });

  app.delete('/threat_models/:threat_model_id', {
    schema: { tags, security, operationId: 'deleteThreatModel', params: ThreatModelId, response: { 202: NoBody, 204: NoBody, ...errors, 409: ErrorBody } },
  }, async (request, reply) => {
    const outcome = await runThreatModelCommand(services, request, request.params.threat_model_id, { type: 'DeleteThreatModel' });
    const status = commandStatus(request, reply, outcome, 204);
    return reply.code(status as 202 | 204).send();
  });

  app.post('/threat_models/:threat_model_id/restore', {
    schema: { tags, security, operationId: 'restoreThreatModel', params: ThreatModelId, response: { 200: FullThreatModel, 202: FullThreatModel, ...errors, 409: ErrorBody } },
  }, async (request, reply) => {
    const outcome = await runThreatModelCommand(services, request, request.params.threat_model_id, { type: 'RestoreThreatModel' });
    return reply.code(commandStatus(request, reply, outcome, 200)).send(await fullBody(existing(outcome.state), outcome.version));
  });
};
