import { Type, type TObject } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MetadataCommand } from '../commands/metadata/decide.js';
import { MetadataKey, type Metadata as MetadataEntry } from '../commands/threat-models/values.js';
import { commandStatus, type AnsweredOutcome } from './commands.js';
import { badRequest, notFound } from './errors.js';
import { ErrorBody, NoBody } from './schemas/common.js';
import { Metadata, MetadataBulkInput, MetadataList, metadataValueInput } from './schemas/threat-models.js';
import { ItemReadQuery } from './as-of.js';

/** Where an entity's metadata lives and how it is read and changed: a threat model, or any of its children. */
export interface MetadataOwner<P> {
  /** The entity's path with Fastify params, e.g. `/threat_models/:threat_model_id/threats/:threat_id`. */
  path: string;
  params: TObject;
  tag: string;
  /** The current entries (or those as of the request's `as_of`), through the read gate of the entity (404/403 as for the entity itself). */
  read(request: FastifyRequest, params: P, reply: FastifyReply): Promise<MetadataEntry[]>;
  /**
   * What PUT `…/metadata/{key}` takes, where the contract's body is not the value alone of at
   * most 1000 characters: diagrams' values run to 1024, assets take the whole Metadata entry. A
   * key in the body must be the path's: the path names the entry changed, and a body naming
   * another is a contradiction (a rename would be a delete and a create), refused rather than guessed at.
   */
  putBody?: TObject;
  /** Runs a metadata command on the entity; answers with the outcome and the entries after it. */
  change(request: FastifyRequest, params: P, command: MetadataCommand): Promise<{ outcome: AnsweredOutcome; metadata: MetadataEntry[] }>;
}

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/**
 * TMI's eight metadata operations for one kind of entity: `…/metadata`, `…/metadata/{key}` and
 * `…/metadata/bulk`. Registered once per kind from its `MetadataOwner`.
 */
export function registerMetadataRoutes<P extends Record<string, string>>(app: FastifyInstance, owner: MetadataOwner<P>): void {
  const base = `${owner.path}/metadata`;
  const tags = [owner.tag];
  const params = owner.params;
  const keyParams = Type.Composite([owner.params, Type.Object({ key: MetadataKey })]);
  const p = (request: FastifyRequest) => request.params as P;
  const key = (request: FastifyRequest) => (request.params as { key: string }).key;
  const body = <T>(request: FastifyRequest) => request.body as T;

  app.get(base, { schema: { tags, security, params, querystring: ItemReadQuery, response: { 200: MetadataList, ...errors } } },
    async (request, reply) => owner.read(request, p(request), reply));

  app.post(base, { schema: { tags, security, params, body: Metadata, response: { 201: Metadata, 202: Metadata, ...errors, 409: ErrorBody } } },
    async (request, reply) => {
      const entry = body<MetadataEntry>(request);
      const { outcome } = await owner.change(request, p(request), { kind: 'add', entry });
      return reply.code(commandStatus(request, reply, outcome, 201)).send(entry);
    });

  app.get(`${base}/:key`, { schema: { tags, security, params: keyParams, querystring: ItemReadQuery, response: { 200: Metadata, ...errors } } },
    async (request, reply) => {
      const entry = (await owner.read(request, p(request), reply)).find((m) => m.key === key(request));
      if (!entry) throw notFound(`metadata key "${key(request)}" not found`);
      return entry;
    });

  app.put(`${base}/:key`, { schema: { tags, security, params: keyParams, body: owner.putBody ?? metadataValueInput(), response: { 200: Metadata, 202: Metadata, ...errors, 409: ErrorBody } } },
    async (request, reply) => {
      const { key: named, value } = body<{ key?: string; value: string }>(request);
      if (named !== undefined && named !== key(request)) {
        throw badRequest(`the body's key "${named}" is not the path's key "${key(request)}": PUT …/metadata/{key} changes the value of the entry the path names`);
      }
      const { outcome } = await owner.change(request, p(request), { kind: 'replace_value', key: key(request), value });
      return reply.code(commandStatus(request, reply, outcome, 200)).send({ key: key(request), value });
    });

  app.delete(`${base}/:key`, { schema: { tags, security, params: keyParams, response: { 202: NoBody, 204: NoBody, ...errors } } },
    async (request, reply) => {
      const { outcome } = await owner.change(request, p(request), { kind: 'delete', key: key(request) });
      return reply.code(commandStatus(request, reply, outcome, 204)).send();
    });

  app.post(`${base}/bulk`, { schema: { tags, security, params, body: MetadataBulkInput, response: { 201: MetadataList, 202: MetadataList, ...errors, 409: ErrorBody } } },
    async (request, reply) => {
      const entries = body<MetadataEntry[]>(request);
      const { outcome } = await owner.change(request, p(request), { kind: 'bulk_create', entries });
      return reply.code(commandStatus(request, reply, outcome, 201)).send(entries);
    });

  for (const [method, kind] of [['put', 'bulk_replace'], ['patch', 'bulk_upsert']] as const) {
    app[method](`${base}/bulk`, { schema: { tags, security, params, body: MetadataBulkInput, response: { 200: MetadataList, 202: MetadataList, ...errors, 409: ErrorBody } } },
      async (request, reply) => {
        const { outcome, metadata } = await owner.change(request, p(request), { kind, entries: body<MetadataEntry[]>(request) });
        return reply.code(commandStatus(request, reply, outcome, 200)).send(metadata);
      });
  }
}
