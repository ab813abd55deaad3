import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandOptions, CommandOutcome } from '../application/execute-command.js';
import { actorOf, metadataFor } from '../auth/audit.js';
import type { EventMetadata } from '../events/types.js';
import { AUDIT_TRAIL_PROJECTION } from '../projections/audit-trail.js';
import type { Services } from '../services.js';
import { HttpError, badRequest } from './errors.js';

/** The parts of a command's outcome its answer is built from (ETag, position, 202 or not). */
export type AnsweredOutcome = Pick<CommandOutcome<unknown>, 'position' | 'replayed' | 'caughtUp'> & {
  /** The resource's version for the ETag; null when the command changed several (a bulk), which has none. */
  version: number | null;
};

// The HTTP side of commands, shared by every resource: If-Match → expected version,
// Idempotency-Key → command id (bound to the request's fingerprint), `Prefer: respond-async`, event metadata from the request,
// and the answer's ETag / X-Event-Position headers.

export const POSITION_HEADER = 'X-Event-Position';
const MIN_POSITION_HEADER = 'x-min-position';
// Requests writing without If-Match: their successful answer carries TMI's Warning (a refusal applied nothing).
const uncheckedWrites = new WeakSet<FastifyRequest>();

const IF_MATCH = /^\s*(\*|(?:W\/)?"?([0-9]+)"?)\s*$/;
const COMMAND_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** `null` when absent or `*` (an unconditional write). */
function parseIfMatch(header: string | string[] | undefined): { present: boolean; version: number | null } {
  if (header === undefined) return { present: false, version: null };
  const value = Array.isArray(header) ? header[0] ?? '' : header;
  const m = IF_MATCH.exec(value);
  if (!m) throw badRequest('If-Match must be a version number (bare or quoted) or *');
  if (m[1] === '*') return { present: true, version: null };
  const version = Number(m[2]);
  if (!Number.isSafeInteger(version)) throw badRequest('If-Match version is out of range');
  return { present: true, version };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * What an idempotency key is bound to: a hash of the method, the route and its parameters, the
 * query and the body. The parts are the parsed, validated values serialized canonically (RFC 8785:
 * members sorted, numbers and strings in one form), so a client that re-serializes the same JSON
 * differently still replays, while the key sent with anything else is refused (422, as the IETF
 * Idempotency-Key draft has it). The caller is not part of it: keys are already scoped per caller.
 */
export function requestFingerprint(request: FastifyRequest): string {
  const canonical = canonicalize({
    method: request.method,
    route: request.routeOptions.url ?? request.url.split('?')[0],
    params: request.params ?? {},
    query: request.query ?? {},
    body: request.body ?? null,
  });
  return createHash('sha256').update(canonical ?? '').digest('base64url');
}

/**
 * The caller's Idempotency-Key (or X-Command-ID). An ill-formed one is refused with any write
 * (idempotencyKeyPlugin), also where no replay is kept (README, "Idempotency-Key"): a client
 * learns of its broken key on the first write, not on the one that would have needed it.
 */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const key = header(request, 'idempotency-key') ?? header(request, 'x-command-id');
  if (key !== undefined && !COMMAND_ID.test(key)) throw badRequest('Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -');
  return key;
}

/** The caller sent `Prefer: respond-async` (RFC 7240): answer once committed, without waiting for the read tables. */
export const wantsAsync = (request: FastifyRequest): boolean =>
  /(^|[,;\s])respond-async([,;\s]|$)/i.test(header(request, 'prefer') ?? '');

/** PUT and PATCH change the same events; the audit trail tells them apart by what the metadata records. */
const changeKindOf = (request: FastifyRequest): Pick<EventMetadata, 'change'> =>
  request.method === 'PUT' ? { change: 'updated' } : request.method === 'PATCH' ? { change: 'patched' } : {};

/**
 * Options for a command. Where the contract expects If-Match (PUT/PATCH), an absent one is
 * refused (428) when the server requires it and otherwise answered with TMI's Warning header;
 * elsewhere a given If-Match is honoured.
 */
export function commandOptions(
  request: FastifyRequest,
  services: Services,
  target: { streamId: string; projections: readonly string[]; ifMatch: 'expected' | 'optional' | 'ignored' },
): CommandOptions {
  let expectedVersion: number | null = null;
  if (target.ifMatch !== 'ignored') {
    const ifMatch = parseIfMatch(request.headers['if-match']);
    if (!ifMatch.present && target.ifMatch === 'expected') {
      if (services.config.server.require_if_match) throw new HttpError(428, 'precondition_required', 'this request needs an If-Match header with the version you last read');
      uncheckedWrites.add(request);
    }
    expectedVersion = ifMatch.version;
  }
  const key = idempotencyKeyOf(request);
  return {
    streamId: target.streamId,
    expectedVersion,
    // Scoped by caller: one user's key can never replay another user's command.
    commandId: key ? `${request.principal?.user_id ?? 'anonymous'}:${key}` : null,
    commandFingerprint: key ? requestFingerprint(request) : null,
    metadata: { ...metadataFor(request, actorOf(request.principal)), ...changeKindOf(request) },
    projections: target.projections,
    // Every change of a threat model or its children is in the trail, which no answer waits for.
    alsoWake: [AUDIT_TRAIL_PROJECTION],
    waitForProjections: !wantsAsync(request),
  };
}

/**
 * Headers every command answer carries, and its status: `status` once the projections serving
 * the resource show the change; 202 Accepted when they do not yet — the caller asked not to
 * wait (`Prefer: respond-async`), the wait timed out, or a projection is halted on a poison
 * event. The change is committed either way; a GET with `X-Min-Position: <X-Event-Position>`
 * waits for it.
 */
export function commandStatus(request: FastifyRequest, reply: FastifyReply, outcome: AnsweredOutcome, status: number): number {
  if (uncheckedWrites.has(request)) {
    reply.header('Warning', '299 - "If-Match header not provided; the change was applied without a version check"');
  }
  if (outcome.version !== null) reply.header('ETag', `"${outcome.version}"`);
  reply.header(POSITION_HEADER, String(outcome.position));
  if (outcome.replayed) reply.header('Idempotent-Replayed', 'true');
  return outcome.caughtUp ? status : 202;
}

/** The minimum event position a query must reflect (X-Min-Position header or min_position query). */
export function minPosition(request: FastifyRequest): number | null {
  const raw = header(request, MIN_POSITION_HEADER) ?? (request.query as Record<string, unknown> | undefined)?.min_position;
  if (raw === undefined || raw === null || raw === '') return null;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest('the minimum position must be a non-negative integer');
  return n;
}

/** JSON Patch bodies (RFC 6902) are parsed like JSON; registered in the plugin that serves PATCH routes. */
export function acceptJsonPatch(app: FastifyInstance): void {
  if (!app.hasContentTypeParser('application/json-patch+json')) {
    app.addContentTypeParser('application/json-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  }
}
