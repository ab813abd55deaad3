import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { childCommand, type ChildCommandBody, type ChildOperation, type ChildResult } from '../../application/child-commands.js';
import { childAsOf } from '../../application/as-of.js';
import { awaitPosition } from '../../application/execute-command.js';
import { executePlannedCommand } from '../../application/multi-stream-command.js';
import type { Child, ChildInput } from '../../commands/child-resources/index.js';
import type { PatchOperation } from '../../commands/json-patch.js';
import type { MetadataCommand } from '../../commands/metadata/decide.js';
import { METADATA_PROJECTION } from '../../projections/metadata.js';
import { THREAT_MODELS_PROJECTION } from '../../projections/threat-models.js';
import { findChild, listChildren } from '../../queries/child-resources.js';
import type { Services } from '../../services.js';
import { acceptJsonPatch, commandOptions, commandStatus, minPosition } from '../commands.js';
import { AsOfParam, answeredAsOf, asOfOf, ItemReadQuery, threatModelThen } from '../as-of.js';
import { canonicalId } from '../plugins/canonical-ids.js';
import { badRequest, forbidden, notFound } from '../errors.js';
import { registerMetadataRoutes } from '../metadata-routes.js';
import { principalOf } from '../plugins/authentication.js';
import { BulkDeleteResponse, BulkPatchRequest, ChildParams, ListQuery, Uuid, WithId } from '../schemas/children.js';
import { ErrorBody, NoBody } from '../schemas/common.js';
import { JsonPatchDocument, ThreatModelId } from '../schemas/threat-models.js';
import { readableThreatModel } from '../threat-model-guard.js';
import type { ChildHttp } from './child-http.js';

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const writeErrors = { ...errors, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody, 428: ErrorBody };

type Params = Record<string, string> & { threat_model_id: string };

/** The read tables showing a kind's changes: its commands wait for them. */
export const childProjections = <F extends object>(spec: ChildHttp<F>): string[] =>
  [spec.aggregate.resource.plural, THREAT_MODELS_PROJECTION, METADATA_PROJECTION, ...(spec.alsoShownBy ?? [])];

/** What a list as of a position honours: its page and whether deleted items show; filters and sorts read the read tables. */
const AS_OF_LIST_PARAMETERS = new Set(['limit', 'offset', 'include_deleted', 'min_position', 'as_of']);

/**
 * Every route of one kind of child resource under `/threat_models/{threat_model_id}/<plural>`:
 * the collection (list, create), the item (get, replace, patch, delete, restore), its metadata
 * and the bulk operations the contract gives the kind. Commands go through `childCommand`
 * (parent scope, atomic append, read-your-writes); queries through the parent's read gate.
 */
export function childRoutes<F extends object>(spec: ChildHttp<F>): FastifyPluginAsync<{ services: Services }> {
  const { resource } = spec.aggregate;
  const collection = `/threat_models/:threat_model_id/${resource.plural}`;
  const item = `${collection}/:${spec.idParam}`;
  const tags = [spec.tag];
  const params = ChildParams(spec.idParam);
  const projections = childProjections(spec);
  const name = resource.label.toLowerCase();
  const listItem = spec.list.item ?? { schema: spec.body, view: spec.view };
  const ifMatch = spec.ifMatch ?? 'expected';

  return async (app: FastifyInstance, { services }) => {
    acceptJsonPatch(app);
    const idOf = (request: FastifyRequest) => (request.params as Params)[spec.idParam]!;
    const parentOf = (request: FastifyRequest) => (request.params as Params).threat_model_id;

    /** Runs child operations for the request's caller; If-Match applies to a single item. */
    async function run(request: FastifyRequest, operations: (expected: number | null) => ChildOperation[], ifMatch: 'expected' | 'optional' | 'ignored') {
      const options = commandOptions(request, services, { streamId: '', projections, ifMatch });
      const command = childCommand(services, spec.aggregate, principalOf(request), parentOf(request), operations(options.expectedVersion));
      return executePlannedCommand(services, command, options);
    }

    const answer = (request: FastifyRequest, reply: FastifyReply, outcome: Awaited<ReturnType<typeof run>>, status: number, accepted?: ChildHttp<F>['accepted']) => {
      const one = outcome.result[0];
      const code = commandStatus(request, reply, { ...outcome, version: one?.version ?? null }, status);
      const body = one ? spec.view(one.state, one.version) : null;
      return reply.code(code).send(code === 202 && accepted && one && body ? accepted.wrap(body, one.state) : body);
    };

    const change = (id: string, command: ChildCommandBody) => (expected: number | null): ChildOperation[] => [{ id, create: false, expectedVersion: expected, command }];
    const creation = (request: FastifyRequest, id: string, input: ChildInput): ChildOperation =>
      ({ id, create: true, expectedVersion: null, command: { type: 'Create', id, alias: 0, input, auto_generated: principalOf(request).client_id !== undefined } });

    /**
     * A readable child (404 when it does not exist under the parent or is deleted), after the
     * position the caller asked for — or, with `as_of`, as it was then (folded from the events,
     * the answer marked as of that position), under today's access to the parent.
     */
    async function readableChild(request: FastifyRequest, reply: FastifyReply): Promise<Child<F> & { version: number }> {
      const asOf = asOfOf(request);
      if (!asOf) await awaitPosition(services, projections, minPosition(request));
      const { view } = await readableThreatModel(services, request, parentOf(request));
      if (asOf) {
        const then = await childAsOf(services, resource.kind, view.id, idOf(request), asOf);
        if (!then.threatModel || !then.child) throw notFound(`${name} not found at that point of its history`);
        answeredAsOf(reply, then.position);
        return then.child as Child<F> & { version: number };
      }
      const child = await findChild<F>(services.database.pool, resource, parentOf(request), idOf(request));
      if (!child || child.deleted_at !== null) throw notFound(`${name} not found`);
      return child;
    }

    app.get(collection, {
      schema: {
        tags, security, params: ThreatModelId,
        querystring: Type.Object({ ...(spec.list.query?.properties ?? ListQuery), as_of: AsOfParam }, { additionalProperties: false }),
        response: { 200: Type.Object({ [spec.list.key]: Type.Array(listItem.schema), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...errors },
      },
    }, async (request, reply) => {
      const query = request.query as Record<string, unknown> & { limit: number; offset: number; include_deleted: boolean };
      const asOf = asOfOf(request);
      const refined = Object.keys(query).filter((k) => !AS_OF_LIST_PARAMETERS.has(k));
      if (asOf && refined.length > 0) throw badRequest(`as_of lists take limit, offset and include_deleted only, not ${refined.join(', ')}`);
      if (!asOf) await awaitPosition(services, projections, minPosition(request));
      const { role, view } = await readableThreatModel(services, request, parentOf(request));
      if (query.include_deleted && role !== 'owner' && !principalOf(request).is_admin) throw forbidden('listing deleted items requires the owner role');
      if (asOf) {
        const { children } = await threatModelThen(services, reply, view.id, asOf, [resource.kind], { includeDeleted: query.include_deleted });
        // The lists' default order, newest first (ties by id, the same way), paged as the read tables would.
        const all = children.get(resource.kind)!.toReversed();
        const page = all.slice(query.offset, query.offset + query.limit) as (Child<F> & { version: number })[];
        return { [spec.list.key]: page.map((c) => listItem.view(c, c.version)), total: all.length, limit: query.limit, offset: query.offset };
      }
      const { items, total } = await listChildren<F>(services.database.pool, resource, parentOf(request), {
        limit: query.limit, offset: query.offset, includeDeleted: query.include_deleted, omit: spec.list.omit ?? [],
        ...(spec.list.refine ? { refinement: spec.list.refine(query) } : {}),
      });
      return { [spec.list.key]: items.map((c) => listItem.view(c, c.version)), total, limit: query.limit, offset: query.offset };
    });

    const writeLimit = spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {};
    app.post(collection, {
      ...writeLimit,
      schema: { tags, security, params: ThreatModelId, body: spec.createInput ?? spec.input, response: { 201: spec.body, 202: spec.accepted?.schema ?? spec.body, ...writeErrors } },
    }, async (request, reply) => {
      const id = uuidv7();
      const outcome = await run(request, () => [creation(request, id, request.body as ChildInput)], 'ignored');
      reply.header('Location', `/threat_models/${parentOf(request)}/${resource.plural}/${outcome.result[0]!.state.id}`);
      return answer(request, reply, outcome, 201, spec.accepted);
    });

    app.get(item, { schema: { tags, security, params, querystring: ItemReadQuery, response: { 200: spec.body, ...errors } } },
      async (request, reply) => {
        const child = await readableChild(request, reply);
        reply.header('ETag', `"${child.version}"`);
        return spec.view(child, child.version);
      });

    app.put(item, { ...writeLimit, schema: { tags, security, params, body: spec.input, response: { 200: spec.body, 202: spec.body, ...writeErrors } } },
      async (request, reply) => answer(request, reply, await run(request, change(idOf(request), { type: 'Replace', input: request.body as ChildInput }), ifMatch), 200));

    app.patch(item, { ...writeLimit, schema: { tags, security, params, body: JsonPatchDocument, response: { 200: spec.body, 202: spec.body, ...writeErrors } } },
      async (request, reply) => answer(request, reply, await run(request, change(idOf(request), { type: 'Patch', operations: request.body as PatchOperation[] }), ifMatch), 200));

    app.delete(item, { schema: { tags, security, params, response: { 202: NoBody, 204: NoBody, ...writeErrors } } },
      async (request, reply) => {
        const outcome = await run(request, change(idOf(request), { type: 'Delete' }), 'optional');
        const one = outcome.result[0]!;
        return reply.code(commandStatus(request, reply, { ...outcome, version: one.version }, 204)).send();
      });

    app.post(`${item}/restore`, { schema: { tags, security, params, response: { 200: spec.body, 202: spec.body, ...writeErrors } } },
      async (request, reply) => answer(request, reply, await run(request, change(idOf(request), { type: 'Restore' }), 'optional'), 200));

    registerMetadataRoutes<Params>(app, {
      path: item,
      params,
      tag: spec.tag,
      ...(spec.metadataPutBody ? { putBody: spec.metadataPutBody } : {}),
      read: async (request, _params, reply) => (await readableChild(request, reply)).metadata,
      async change(request, p, metadata: MetadataCommand) {
        const outcome = await run(request, change(p[spec.idParam]!, { type: 'ChangeMetadata', change: metadata }), 'optional');
        const one = outcome.result[0]!;
        return { outcome: { ...outcome, version: one.version }, metadata: one.state.metadata };
      },
    });

    if (spec.bulk) registerBulkRoutes(app, spec, { collection, tags, run, creation });
  };
}

interface BulkContext {
  collection: string;
  tags: string[];
  run(request: FastifyRequest, operations: (expected: number | null) => ChildOperation[], ifMatch: 'ignored'): Promise<{ result: ChildResult<object>[]; position: number; replayed: boolean; caughtUp: boolean }>;
  creation(request: FastifyRequest, id: string, input: ChildInput): ChildOperation;
}

/** The contract's bulk operations: up to `max` children in one atomic command, all or nothing. */
function registerBulkRoutes<F extends object>(app: FastifyInstance, spec: ChildHttp<F>, ctx: BulkContext): void {
  const bulk = spec.bulk!;
  const path = `${ctx.collection}/bulk`;
  const { tags, run } = ctx;
  const many = Type.Array(spec.body);
  const views = (result: ChildResult<object>[]) => result.map((r) => spec.view(r.state as unknown as Child<F>, r.version));
  const unique = (ids: string[]) => {
    const seen = new Set(ids);
    if (seen.size !== ids.length) throw badRequest('an id appears more than once in the bulk request');
  };
  const send = (request: FastifyRequest, reply: FastifyReply, outcome: Awaited<ReturnType<BulkContext['run']>>, status: number, body: unknown) =>
    reply.code(commandStatus(request, reply, { ...outcome, version: null }, status)).send(body);

  if (bulk.create) {
    app.post(path, { schema: { tags, security, params: ThreatModelId, body: Type.Array(spec.input, { minItems: 1, maxItems: bulk.max }), response: { 201: many, 202: many, ...writeErrors } } },
      async (request, reply) => {
        const inputs = request.body as ChildInput[];
        const outcome = await run(request, () => inputs.map((input) => ctx.creation(request, uuidv7(), input)), 'ignored');
        return send(request, reply, outcome, bulk.create!, views(outcome.result));
      });
  }
  if (bulk.update) {
    // A bulk update names each child; one that does not exist yet is created with that id (PUT semantics).
    app.put(path, { schema: { tags, security, params: ThreatModelId, body: Type.Array(bulk.updateItem ?? WithId(spec.input), { minItems: 1, maxItems: bulk.max }), response: { 200: many, 201: many, 202: many, ...writeErrors } } },
      async (request, reply) => {
        const items = (request.body as (ChildInput & { id: string })[]).map((i) => ({ ...i, id: canonicalId(i.id) }));
        unique(items.map((i) => i.id));
        const outcome = await run(request, () => items.map(({ id, ...input }): ChildOperation => ({
          id, create: false, expectedVersion: null,
          command: (state) => (state.exists ? { type: 'Replace', input } : { type: 'Create', id, alias: 0, input, auto_generated: request.principal?.client_id !== undefined }),
        })), 'ignored');
        return send(request, reply, outcome, bulk.update!, views(outcome.result));
      });
  }
  if (bulk.patch) {
    app.patch(path, { schema: { tags, security, params: ThreatModelId, body: BulkPatchRequest, response: { 200: many, 202: many, ...writeErrors } } },
      async (request, reply) => {
        const patches = (request.body as { patches: { id: string; operations: PatchOperation[] }[] }).patches.map((p) => ({ ...p, id: canonicalId(p.id) }));
        unique(patches.map((p) => p.id));
        const outcome = await run(request, () => patches.map((p) => ({ id: p.id, create: false, expectedVersion: null, command: { type: 'Patch', operations: p.operations } })), 'ignored');
        return send(request, reply, outcome, 200, views(outcome.result));
      });
  }
  if (bulk.delete) {
    const idsParam = `${spec.aggregate.resource.kind}_ids`;
    app.delete(path, {
      schema: {
        tags, security, params: ThreatModelId,
        querystring: Type.Object({ [idsParam]: Type.Array(Uuid, { minItems: 1, maxItems: bulk.max }) }, { additionalProperties: false }),
        response: { 200: BulkDeleteResponse, 202: BulkDeleteResponse, ...writeErrors },
      },
      // The contract sends the ids comma-separated in one parameter (explode: false); repeated parameters work too.
      preValidation: async (request) => {
        const query = request.query as Record<string, unknown>;
        const raw = query[idsParam];
        if (raw !== undefined) query[idsParam] = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(',')).filter((v) => v !== '');
      },
    }, async (request, reply) => {
      const ids = (request.query as Record<string, string[]>)[idsParam]!;
      unique(ids);
      const outcome = await run(request, () => ids.map((id) => ({ id, create: false, expectedVersion: null, command: { type: 'Delete' } })), 'ignored');
      return send(request, reply, outcome, 200, { deleted_count: ids.length, deleted_ids: ids });
    });
  }
}
