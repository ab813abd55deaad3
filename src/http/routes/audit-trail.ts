import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { childCommand } from '../../application/child-commands.js';
import { awaitPosition, executeCommand, loadAggregate } from '../../application/execute-command.js';
import { executePlannedCommand } from '../../application/multi-stream-command.js';
import { THREAT_MODEL_PROJECTIONS, threatModelDecider } from '../../application/threat-models.js';
import { CHANGE_TYPES, OBJECT_TYPES, deriveEntries, transactionOf } from '../../commands/audit/entries.js';
import { childStreamId, type ChildState } from '../../commands/child-resources/index.js';
import { threatModelStreamId } from '../../commands/threat-models/events.js';
import type { EventMetadata } from '../../events/types.js';
import { AUDIT_TRAIL_PROJECTION } from '../../projections/audit-trail.js';
import {
  entryView, findAuditEntry, newestEntryOf, objectTrailPage, threatModelTrailPage, type AuditCursor, type AuditEntryRow, type AuditEntryView,
} from '../../queries/audit-trail.js';
import { findChild } from '../../queries/child-resources.js';
import type { Services } from '../../services.js';
import { childArrays } from '../children/full-body.js';
import { childHttpSpecs } from '../children/index.js';
import { childProjections } from '../children/child-routes.js';
import { commandOptions, commandStatus, minPosition } from '../commands.js';
import { badRequest, notFound } from '../errors.js';
import { principalOf } from '../plugins/authentication.js';
import { ChildParams, ListQuery, Timestamp, Uuid } from '../schemas/children.js';
import { ErrorBody } from '../schemas/common.js';
import { ThreatModelId } from '../schemas/threat-models.js';
import { readableThreatModel } from '../threat-model-guard.js';
import { AuditEntry, ObjectTrailPage, RollbackResponse, ThreatModelTrailPage, derivedEntryView } from '../views/audit.js';
import { threatModelBody } from '../views/threat-models.js';

const tags = ['Audit Trail'];
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const literals = (values: readonly string[]): TSchema => Type.Union(values.map((v) => Type.Literal(v)));

const TrailQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  object_type: Type.Optional(literals(OBJECT_TYPES)),
  change_type: Type.Optional(literals(CHANGE_TYPES)),
  actor_email: Type.Optional(Type.String({ format: 'email', maxLength: 254, pattern: '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$' })),
  created_after: Type.Optional(Timestamp),
  created_before: Type.Optional(Timestamp),
  min_position: ListQuery.min_position,
}, { additionalProperties: false });
type TrailQuery = { limit: number; cursor?: string; min_position?: number } & Parameters<typeof threatModelTrailPage>[2];

const ObjectTrailQuery = Type.Object({ limit: ListQuery.limit, offset: ListQuery.offset, min_position: ListQuery.min_position }, { additionalProperties: false });
const EntryParams = Type.Object({ threat_model_id: Uuid, entry_id: Uuid });

// Cursors are opaque to clients: the side of the page and an entry's place in the global order.
const encodeCursor = (c: AuditCursor) => Buffer.from(`${c.direction}:${c.position}`).toString('base64url');
function decodeCursor(raw: string | undefined): AuditCursor | null {
  // An empty cursor is no cursor (a client echoing a null next_cursor): the first page.
  if (raw === undefined || raw === '') return null;
  const m = /^(older|newer):([0-9]{1,20})$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
  const position = Number(m?.[2]);
  if (!m || !Number.isSafeInteger(position)) throw badRequest('cursor is not one this server gave (use next_cursor or prev_cursor of a page)');
  return { direction: m[1] as AuditCursor['direction'], position };
}

/**
 * TMI's audit trail: a threat model's (its own changes and its children's, by cursor) and each
 * child's (by offset), read from the `audit_entries` projection, and rollback to an entry. Reads
 * are for the threat model's readers, a rollback for its owners (docs/architecture.md).
 */
export const auditTrailRoutes: FastifyPluginAsync<{ services: Services }> = async (app: FastifyInstance, { services }) => {
  const { pool } = services.database;

  /** The threat model's read gate, then the trail's own read table up to the position the caller asked for. */
  async function gate(request: FastifyRequest, threatModelId: string, alsoRead: readonly string[] = []) {
    const gated = await readableThreatModel(services, request, threatModelId);
    await awaitPosition(services, [AUDIT_TRAIL_PROJECTION, ...alsoRead], minPosition(request));
    return gated;
  }

  app.get('/threat_models/:threat_model_id/audit_trail', {
    schema: { tags, security, operationId: 'getThreatModelAuditTrail', params: ThreatModelId, querystring: TrailQuery, response: { 200: ThreatModelTrailPage, ...errors } },
  }, async (request) => {
    const { limit, cursor: raw, min_position: _m, ...filter } = request.query as TrailQuery;
    const cursor = decodeCursor(raw);
    const { view } = await gate(request, (request.params as { threat_model_id: string }).threat_model_id);
    const page = await threatModelTrailPage(pool, view.id, filter, limit, cursor);
    const first = page.entries[0];
    const last = page.entries.at(-1);
    return {
      audit_entries: page.entries.map(entryView), total: page.total, limit,
      next_cursor: page.older && last ? encodeCursor({ direction: 'older', position: last.position }) : null,
      prev_cursor: page.newer && first ? encodeCursor({ direction: 'newer', position: first.position }) : null,
    };
  });

  app.get('/threat_models/:threat_model_id/audit_trail/:entry_id', {
    schema: { tags, security, operationId: 'getAuditEntry', params: EntryParams, querystring: Type.Object({ min_position: ListQuery.min_position }, { additionalProperties: false }), response: { 200: AuditEntry, ...errors } },
  }, async (request) => {
    const params = request.params as { threat_model_id: string; entry_id: string };
    const { view } = await gate(request, params.threat_model_id);
    return entryView(await entryOf(view.id, params.entry_id));
  });

  async function entryOf(threatModelId: string, entryId: string): Promise<AuditEntryRow> {
    const entry = await findAuditEntry(pool, threatModelId, entryId);
    if (!entry) throw notFound('audit entry not found');
    return entry;
  }

  /** The entry the rollback's events made (read back from its stream: one transaction's events), or, when it changed nothing, the entity's newest. */
  async function answeredEntry(threatModelId: string, streamId: string, version: number, position: number): Promise<AuditEntryView> {
    if (position === 0) return entryView((await newestEntryOf(pool, threatModelId, streamId))!);
    const events = (await services.store.readStream(streamId, { fromVersion: Math.max(1, version - 16), toVersion: version }))
      .filter((e) => transactionOf(e.position) === transactionOf(position));
    return derivedEntryView({ ...deriveEntries(events).at(-1)!, threat_model_id: threatModelId });
  }

  app.post('/threat_models/:threat_model_id/audit_trail/:entry_id/rollback', {
    schema: {
      tags, security, operationId: 'rollbackToVersion', params: EntryParams,
      response: { 200: RollbackResponse, 202: RollbackResponse, ...errors, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody },
    },
  }, async (request, reply) => {
    const params = request.params as { threat_model_id: string; entry_id: string };
    // Owners only; whoever is refused learns nothing of the entry.
    const { view } = await readableThreatModel(services, request, params.threat_model_id, 'owner');
    await awaitPosition(services, [AUDIT_TRAIL_PROJECTION], minPosition(request));
    const entry = await entryOf(view.id, params.entry_id);
    const marked = (metadata: EventMetadata): EventMetadata => ({ ...metadata, change: 'rolled_back', rolled_back_to: { entry_id: entry.id, version: entry.version } });

    if (entry.object_type === 'threat_model') {
      const streamId = threatModelStreamId(view.id);
      const { state: target } = await loadAggregate(services, threatModelDecider, streamId, { toVersion: entry.version });
      const options = commandOptions(request, services, { streamId, projections: THREAT_MODEL_PROJECTIONS, ifMatch: 'optional' });
      const outcome = await executeCommand(services, threatModelDecider,
        { type: 'RollbackThreatModel', target, caller: principalOf(request), now: new Date().toISOString() }, { ...options, metadata: marked(options.metadata) });
      const tm = outcome.state.exists && outcome.state.deleted_at === null ? outcome.state : null;
      const body = {
        ...(tm ? { restored_entity: { ...threatModelBody(tm, outcome.version), ...await childArrays(services, tm.id) } } : {}),
        audit_entry: await answeredEntry(view.id, streamId, outcome.version, outcome.position),
      };
      return reply.code(commandStatus(request, reply, outcome, 200)).send(body);
    }

    const spec = childHttpSpecs.find((s) => s.aggregate.resource.kind === entry.object_type)!;
    const streamId = childStreamId(spec.aggregate.resource.kind, entry.object_id);
    const { state: target } = await loadAggregate(services, spec.aggregate.decider, streamId, { toVersion: entry.version });
    const options = commandOptions(request, services, { streamId, projections: childProjections(spec), ifMatch: 'optional' });
    const command = childCommand(services, spec.aggregate, principalOf(request), view.id, [
      { id: entry.object_id, create: false, expectedVersion: options.expectedVersion, command: { type: 'Rollback', target: target as ChildState<object> } },
    ]);
    const outcome = await executePlannedCommand(services, command, { ...options, metadata: marked(options.metadata) });
    const one = outcome.result[0]!;
    const body = {
      ...(one.state.deleted_at === null ? { restored_entity: spec.view(one.state, one.version) } : {}),
      audit_entry: await answeredEntry(view.id, streamId, one.version, outcome.position),
    };
    return reply.code(commandStatus(request, reply, { ...outcome, version: one.version }, 200)).send(body);
  });

  // One route per kind of child, from the same list the kinds' own routes are built from.
  for (const spec of childHttpSpecs) {
    const { kind, plural, label } = spec.aggregate.resource;
    app.get(`/threat_models/:threat_model_id/${plural}/:${spec.idParam}/audit_trail`, {
      schema: { tags, security, operationId: `get${label}AuditTrail`, params: ChildParams(spec.idParam), querystring: ObjectTrailQuery, response: { 200: ObjectTrailPage, ...errors } },
    }, async (request) => {
      const params = request.params as Record<string, string> & { threat_model_id: string };
      const { limit, offset } = request.query as { limit: number; offset: number };
      const { view } = await gate(request, params.threat_model_id, [plural]);
      const id = params[spec.idParam]!;
      // A deleted child's trail stays readable: it is where an owner finds the entry to go back to.
      if (!await findChild(pool, spec.aggregate.resource, view.id, id)) throw notFound(`${label.toLowerCase()} not found`);
      const page = await objectTrailPage(pool, view.id, kind, id, limit, offset);
      return { audit_entries: page.entries.map(entryView), total: page.total, limit, offset };
    });
  }
};
