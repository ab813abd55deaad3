/**
 * Failures of Redis — the shared cache of short-lived auth state and BullMQ's queue — told apart
 * from the database's. A refused or reset connection looks the same from Node whichever server
 * refused it (`ECONNREFUSED`, no other mark), so the error cannot be classified where it is
 * answered: every Redis call on a request's path goes through `guardRedis`, which turns the
 * ways Redis can be out of reach into a RedisUnavailableError before anyone reads its code.
 */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  constructor(cause: unknown) {
    super(`redis unavailable: ${(cause as Error | undefined)?.message ?? String(cause)}`, { cause });
  }
}

// The socket could not be had or was lost.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// ioredis's fail-fast refusals (no offline queue, a command timeout, a closed connection).
const CLIENT_MESSAGES = /enableOfflineQueue options is false|^Connection is closed\.$|^Command timed out$|^connect ETIMEDOUT$/;
// Replies of a server that is up but cannot serve: still loading, a script running too long, a replica, out of memory.
const SERVER_REPLIES = /^(LOADING|BUSY|READONLY|OOM|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /;

/** True when `err` says Redis cannot be reached or cannot serve now, as opposed to a bug in the command. */
export function isRedisUnreachable(err: unknown): boolean {
  if (err instanceof RedisUnavailableError) return true;
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null | undefined;
  if (e?.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return CLIENT_MESSAGES.test(message) || SERVER_REPLIES.test(message);
}

/** Runs one Redis operation; a Redis that is out of reach becomes a RedisUnavailableError (answered 503), anything else is rethrown as is. */
export async function guardRedis<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw isRedisUnreachable(err) && !(err instanceof RedisUnavailableError) ? new RedisUnavailableError(err) : err;
  }
}
