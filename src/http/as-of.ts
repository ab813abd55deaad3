import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { threatModelAsOf } from '../application/as-of.js';
import type { ChildKind } from '../commands/child-resources/index.js';
import type { AsOf } from '../queries/as-of.js';
import type { Services } from '../services.js';
import { notFound } from './errors.js';
import { ListQuery } from './schemas/children.js';

/**
 * The `as_of` query parameter of the time-travel extension (docs/architecture.md, "Time travel"):
 * a global position or an RFC 3339 time. The schema refuses anything else at the door (400); the
 * answer names the position it is as of in `X-As-Of-Position`.
 */
export const AS_OF_POSITION_HEADER = 'X-As-Of-Position';

export const AsOfParam = Type.Optional(Type.Union([
  Type.String({ pattern: '^[0-9]{1,20}$', description: 'A global position (X-Event-Position of a command, position of a history event).' }),
  Type.String({ format: 'date-time', maxLength: 64, description: 'An RFC 3339 time: as of the last of the threat model\'s events recorded at or before it.' }),
], {
  description: 'Extension (not part of TMI\'s API), time travel: answer with the resource as it was at this global position or time, '
    + 'folded from the event store. A position beyond the newest settled one answers as of that one; the position used is in the '
    + `${AS_OF_POSITION_HEADER} header. 404 when the resource did not exist yet or was deleted then. Access is checked as of now.`,
}));

/** An item's query: read-your-writes' `min_position` and `as_of`. */
export const ItemReadQuery = Type.Object({ min_position: ListQuery.min_position, as_of: AsOfParam });

/** The request's `as_of`, parsed (the schema has checked its form); null when absent. */
export function asOfOf(request: FastifyRequest): AsOf | null {
  const raw = (request.query as { as_of?: string } | undefined)?.as_of;
  if (raw === undefined) return null;
  // A position beyond any there can be is beyond the head: the head answers (kept a safe integer on the way).
  if (/^[0-9]+$/.test(raw)) return { position: Math.min(Number(raw), Number.MAX_SAFE_INTEGER) };
  return { timestamp: raw };
}

/** Marks an answer as of the position it was folded to (its ETag, where it has one, is the resource's version then). */
export function answeredAsOf(reply: FastifyReply, position: number): void {
  reply.header(AS_OF_POSITION_HEADER, String(position));
}

/**
 * A threat model the caller reads today (checked before), as of then, with its live children of
 * `kinds`: 404 when it did not exist yet or was deleted then; the answer marked as of its position.
 */
export async function threatModelThen(services: Services, reply: FastifyReply, id: string, asOf: AsOf, kinds?: readonly ChildKind[], options: { includeDeleted?: boolean } = {}) {
  const then = await threatModelAsOf(services, id, asOf, kinds, options);
  if (!then.threatModel) throw notFound('threat model not found at that point of its history');
  answeredAsOf(reply, then.position);
  return { threatModel: then.threatModel, children: then.children };
}
