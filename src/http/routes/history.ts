import { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StoredEvent } from '../../events/types.js';
import { historyPages, readHistoryPage, type HistoryFilter } from '../../queries/history.js';
import type { Services } from '../../services.js';
import { preferredMediaType } from '../accept.js';
import { HttpError, forbidden } from '../errors.js';
import { principalOf } from '../plugins/authentication.js';
import { ErrorBody } from '../schemas/common.js';
import { ThreatModelId } from '../schemas/threat-models.js';
import { readableThreatModel } from '../threat-model-guard.js';
import { HistoryEvent, historyEventBody } from '../views/history.js';

/** An extension of TMI's API, under its own prefix so it can never collide with a TMI path. */
export const HISTORY_PREFIX = '/extensions/history';

const NDJSON = 'application/x-ndjson';
const MEDIA_TYPES = ['application/json', NDJSON] as const;
export const MAX_HISTORY_PAGE = 1000;
const DEFAULT_HISTORY_PAGE = 100;
/** Rows per statement while streaming NDJSON: the answer is written page by page, never held whole. */
const STREAM_PAGE = 500;

const tags = ['Extension: history'];
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 406: ErrorBody };

const Filters = {
  after: Type.Integer({ minimum: 0, default: 0, description: 'Cursor: answer events after this global position (the previous answer\'s next_after).' }),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HISTORY_PAGE, description: `Events per page (default ${DEFAULT_HISTORY_PAGE}); with NDJSON, the most events streamed (default: all).` })),
  stream_id: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
  type: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50, description: 'Event types; repeat for several.' })),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'The acting user\'s id or email.' })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Recorded at or after (RFC 3339).' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Recorded before (RFC 3339).' })),
};
const FeedQuery = Type.Object({ ...Filters, threat_model_id: Type.Optional(Type.String({ format: 'uuid', maxLength: 36 })) }, { additionalProperties: false });
const ThreatModelHistoryQuery = Type.Object(Filters, { additionalProperties: false });
type Query = Static<typeof FeedQuery>;

const HistoryPageBody = Type.Object({
  events: Type.Array(HistoryEvent),
  /** Where the next page starts: the last event's position, or the request's `after` when there was none. */
  next_after: Type.Integer({ minimum: 0 }),
  /** The page is full: more events may follow at once. */
  has_more: Type.Boolean(),
}, { additionalProperties: false });
const response = {
  200: { description: 'A page of events in global order, or (Accept: application/x-ndjson) every matching event, one per line', content: {
    'application/json': { schema: HistoryPageBody },
    [NDJSON]: { schema: HistoryEvent },
  } },
  ...errors,
};

const threatModelFilter = (id: string | undefined) => (id === undefined ? {} : { threat_model_id: id.toLowerCase() });
const filterOf = (q: Query, threatModelId?: string): HistoryFilter => ({
  ...(q.stream_id !== undefined ? { stream_id: q.stream_id } : {}),
  ...(q.type !== undefined ? { types: q.type } : {}),
  ...(q.actor !== undefined ? { actor: q.actor } : {}),
  ...(q.from !== undefined ? { from: q.from } : {}),
  ...(q.to !== undefined ? { to: q.to } : {}),
  ...threatModelFilter(threatModelId ?? q.threat_model_id),
});

const lines = (events: StoredEvent[]): string => events.map((e) => `${JSON.stringify(historyEventBody(e))}\n`).join('');

/**
 * The global event feed (auditors: administrators and security reviewers) and one threat model's
 * history (anyone who reads it), read from the event store itself — so what they show is the
 * source of truth, never a projection that may lag — in global order, with a cursor.
 */
export const historyRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { pool } = services.database;
  const { catalog } = services.store;

  async function answer(request: FastifyRequest, reply: FastifyReply, query: Query, filter: HistoryFilter) {
    const type = preferredMediaType(request.headers.accept, MEDIA_TYPES);
    if (type === null) throw new HttpError(406, 'not_acceptable', `the history is available as ${MEDIA_TYPES.join(', ')}`);
    if (type === NDJSON) {
      const pages = historyPages(pool, catalog, filter, { after: query.after, pageSize: STREAM_PAGE, ...(query.limit ? { max: query.limit } : {}) });
      // The first page is read before the answer starts, so a failure there is an ordinary error answer.
      const first = await pages.next();
      const stream = async function* () {
        try {
          if (!first.done) yield lines(first.value);
          for await (const page of pages) yield lines(page);
        } finally {
          await pages.return(undefined);
        }
      };
      return reply.type(`${NDJSON}; charset=utf-8`).send(Readable.from(stream()));
    }
    const limit = query.limit ?? DEFAULT_HISTORY_PAGE;
    const { events } = await readHistoryPage(pool, catalog, filter, { after: query.after, limit });
    return { events: events.map(historyEventBody), next_after: events.at(-1)?.position ?? query.after, has_more: events.length === limit };
  }

  app.get(`${HISTORY_PREFIX}/events`, {
    schema: { tags, security, operationId: 'getHistoryFeed', querystring: FeedQuery, response },
  }, async (request, reply) => {
    const caller = principalOf(request);
    if (!caller.is_admin && !caller.is_security_reviewer) throw forbidden('the event feed is for administrators and security reviewers');
    return answer(request, reply, request.query, filterOf(request.query));
  });

  app.get(`${HISTORY_PREFIX}/threat_models/:threat_model_id/events`, {
    schema: { tags, security, operationId: 'getThreatModelHistory', params: ThreatModelId, querystring: ThreatModelHistoryQuery, response },
  }, async (request, reply) => {
    // Today's access decides, as for every read of the threat model: 404 unknown or deleted, 403 out of reach.
    const { view } = await readableThreatModel(services, request, request.params.threat_model_id);
    return answer(request, reply, request.query, filterOf(request.query, view.id));
  });
};
