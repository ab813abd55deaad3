/**
 * The one place that decides which database failures are transient — the infrastructure's
 * fault, not the request's or the event's — and of which kind. The HTTP error handler turns them
 * into 503 with Retry-After, the projection runner lets BullMQ retry the batch instead of
 * dead-lettering the event, and the event store re-runs its append statement on a conflict.
 *
 * - `unavailable`: the connection is gone or cannot be had (refused, reset, server shutting down,
 *   too many connections). Re-running at once mostly fails again; the caller comes back later.
 * - `conflict`: PostgreSQL aborted the transaction to break a deadlock (40P01) or to keep
 *   serializable isolation (40001). The very same transaction succeeds when run again, so work
 *   that is one statement (or a whole transaction the code owns) is re-run a few times.
 * - `busy`: a lock could not be had within lock_timeout (55P03) or the statement was cancelled
 *   (57014: statement_timeout or an operator's pg_cancel_backend). Not re-run inline — the wait
 *   already took its time and a second one adds load to a database that is struggling — but still
 *   not the event's fault: a projector that dead-lettered it would halt on a healthy event.
 */
export type TransientDatabaseError = 'unavailable' | 'conflict' | 'busy';

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '53300']);
const CONFLICT_CODES = new Set(['40001', '40P01']);
const BUSY_CODES = new Set(['55P03', '57014']);
// What pg says when it loses or cannot get a connection; these errors carry no code.
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

/** The kind of transient failure `err` is, or null when it is not one (a bug, bad data, a constraint). */
export function transientDatabaseError(err: unknown): TransientDatabaseError | null {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code !== undefined) {
    if (CONFLICT_CODES.has(code)) return 'conflict';
    if (BUSY_CODES.has(code)) return 'busy';
    if (UNAVAILABLE_CODES.has(code)) return 'unavailable';
  }
  return typeof e?.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message) ? 'unavailable' : null;
}

export const isDatabaseUnavailable = (err: unknown): boolean => transientDatabaseError(err) === 'unavailable';

/** A deadlock or serialization failure: the same transaction, run again, succeeds. */
export const isTransactionConflict = (err: unknown): boolean => transientDatabaseError(err) === 'conflict';

/** How often work is re-run after a transaction conflict (deadlock, serialization failure) before the error is given to the caller (then a 503). */
export const TRANSACTION_CONFLICT_RETRIES = 3;
const CONFLICT_BASE_DELAY_MS = 10;

/**
 * Runs `run` and re-runs it on a deadlock or serialization failure, up to TRANSACTION_CONFLICT_RETRIES times,
 * after a random pause that doubles each time ("full jitter"), so the two sides of a deadlock do
 * not meet again in step. Only for work that is safe to repeat as a whole: one statement in a
 * transaction of its own, or a whole transaction the function opens and commits itself.
 */
export async function retryOnConflict<T>(run: () => Promise<T>, retries = TRANSACTION_CONFLICT_RETRIES): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= retries || !isTransactionConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_BASE_DELAY_MS * 2 ** attempt));
    }
  }
}
