import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { HttpError } from '../errors.js';

/** Another instance (or this one, restarted) answers soon; the client's next try should not wait long. */
const RETRY_AFTER_SECONDS = '1';

/**
 * What a request meets while the app closes (SIGTERM's drain). The listener closes and idle
 * keep-alive connections are reaped by `server.close()`, so a request can only arrive on a
 * connection that was busy at that moment (the next request of a keep-alive or pipelining client).
 * Such a request is refused with 503 and the contract's error body — Fastify's own
 * `return503OnClosing` answers `{statusCode, error, message}`, so it is off in buildApp — and
 * `Connection: close`, so the client goes elsewhere and the connection ends with the answer.
 * Answers to requests already in flight say `Connection: close` too: a client that reused
 * that connection would race the server closing it (a reset instead of a clean refusal).
 *
 * Register it after the request context and CORS (the refusal carries the request id, and a
 * browser may read it) and before the rest: a refused request must not reach authentication,
 * the rate limiter or a route.
 */
export const shutdownPlugin = fp(async (app: FastifyInstance) => {
  let closing = false;
  // preClose hooks run in the order they were added, before the listener closes: this one first,
  // so the flag is up while the others (the WebSocket hub's drain) wait.
  app.addHook('preClose', (done) => { closing = true; done(); });
  app.addHook('onRequest', async () => {
    if (closing) {
      throw new HttpError(503, 'service_unavailable', 'the server is shutting down; retry shortly',
        { 'Retry-After': RETRY_AFTER_SECONDS, Connection: 'close' });
    }
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('Connection', 'close');
  });
});
