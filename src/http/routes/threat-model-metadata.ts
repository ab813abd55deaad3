import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { MetadataCommand } from '../../commands/metadata/decide.js';
import type { Services } from '../../services.js';
import { commandStatus } from '../commands.js';
import { notFound } from '../errors.js';
import { ErrorBody } from '../schemas/common.js';
import { Metadata, MetadataBulkInput, MetadataKeyParams, MetadataList, MetadataValueInput, MinPositionQuery, ThreatModelId } from '../schemas/threat-models.js';
import { readableThreatModel } from '../threat-model-guard.js';
import { existing, runThreatModelCommand } from './threat-models.js';

const tags = ['Threat Model Metadata'];
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** `/threat_models/{threat_model_id}/metadata[/{key}|/bulk]`. */
export const threatModelMetadataRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const change = async (request: FastifyRequest, id: string, command: MetadataCommand) => {
    const outcome = await runThreatModelCommand(services, request, id, { type: 'ChangeThreatModelMetadata', change: command });
    return { outcome, metadata: existing(outcome.state).metadata };
  };

  app.get('/threat_models/:threat_model_id/metadata', {
    schema: { tags, security, params: ThreatModelId, querystring: MinPositionQuery, response: { 200: MetadataList, ...errors } },
  }, async (request) => (await readableThreatModel(services, request, request.params.threat_model_id)).view.metadata);

  app.post('/threat_models/:threat_model_id/metadata', {
    schema: { tags, security, params: ThreatModelId, body: Metadata, response: { 201: Metadata, 202: Metadata, ...errors, 409: ErrorBody } },
  }, async (request, reply) => {
    const { outcome } = await change(request, request.params.threat_model_id, { kind: 'add', entry: request.body });
    return reply.code(commandStatus(request, reply, outcome, 201)).send(request.body);
  });

  app.get('/threat_models/:threat_model_id/metadata/:key', {
    schema: { tags, security, params: MetadataKeyParams, querystring: MinPositionQuery, response: { 200: Metadata, ...errors } },
  }, async (request) => {
    const { view } = await readableThreatModel(services, request, request.params.threat_model_id);
    const entry = view.metadata.find((m) => m.key === request.params.key);
    if (!entry) throw notFound(`metadata key "${request.params.key}" not found`);
    return entry;
  });

  app.put('/threat_models/:threat_model_id/metadata/:key', {
    schema: { tags, security, params: MetadataKeyParams, body: MetadataValueInput, response: { 200: Metadata, 202: Metadata, ...errors, 409: ErrorBody } },
  }, async (request, reply) => {
    const { key, threat_model_id } = request.params;
    const { outcome } = await change(request, threat_model_id, { kind: 'replace_value', key, value: request.body.value });
    return reply.code(commandStatus(request, reply, outcome, 200)).send({ key, value: request.body.value });
  });

  app.delete('/threat_models/:threat_model_id/metadata/:key', {
    schema: { tags, security, params: MetadataKeyParams, response: { 202: Type.Null(), 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    const { outcome } = await change(request, request.params.threat_model_id, { kind: 'delete', key: request.params.key });
    const status = commandStatus(request, reply, outcome, 204);
    return reply.code(status as 202 | 204).send(null);
  });

  app.post('/threat_models/:threat_model_id/metadata/bulk', {
    schema: { tags, security, params: ThreatModelId, body: MetadataBulkInput, response: { 201: MetadataList, 202: MetadataList, ...errors, 409: ErrorBody } },
  }, async (request, reply) => {
    const { outcome } = await change(request, request.params.threat_model_id, { kind: 'bulk_create', entries: request.body });
    return reply.code(commandStatus(request, reply, outcome, 201)).send(request.body);
  });

  app.put('/threat_models/:threat_model_id/metadata/bulk', {
    schema: { tags, security, params: ThreatModelId, body: MetadataBulkInput, response: { 200: MetadataList, 202: MetadataList, ...errors, 409: ErrorBody } },
  }, async (request, reply) => {
    const { outcome, metadata } = await change(request, request.params.threat_model_id, { kind: 'bulk_replace', entries: request.body });
    return reply.code(commandStatus(request, reply, outcome, 200)).send(metadata);
  });

  app.patch('/threat_models/:threat_model_id/metadata/bulk', {
    schema: { tags, security, params: ThreatModelId, body: MetadataBulkInput, response: { 200: MetadataList, 202: MetadataList, ...errors, 409: ErrorBody } },
  }, async (request, reply) => {
    const { outcome, metadata } = await change(request, request.params.threat_model_id, { kind: 'bulk_upsert', entries: request.body });
    return reply.code(commandStatus(request, reply, outcome, 200)).send(metadata);
  });
};
