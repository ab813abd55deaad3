import http from 'node:http';
import { randomUUID } from 'node:crypto';

/** One create sent by the load, and what came of it. */
export interface Attempt {
  key: string;
  name: string;
  /** Date.now() when the request was started. */
  startedAt: number;
  /** Set when a full HTTP answer arrived. */
  status?: number;
  body?: { id?: string; error?: string; error_description?: string };
  /** The answer's Retry-After header, null when it had none. */
  retryAfter?: string | null;
  /** Set when no full answer arrived: the socket error's code (ECONNREFUSED, ECONNRESET, ...). */
  error?: string;
}

/**
 * A steady load of threat-model creates, each with its own Idempotency-Key, from `workers`
 * concurrent clients that each wait for an answer before sending the next. Every request has a
 * connection of its own (no keep-alive), so a refused connection (nothing listening) is told
 * apart from a cut one.
 */
export class CommandLoad {
  readonly attempts: Attempt[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(private readonly target: () => { url: string; token: string }, workers = 6, private readonly stopOn: (a: Attempt) => boolean = () => false) {
    this.loops = Array.from({ length: workers }, () => this.loop());
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const attempt = await this.send();
      this.attempts.push(attempt);
      if (this.stopOn(attempt)) return;
      // A failed request is retried after a pause, as a client honouring Retry-After would (shortened).
      if (attempt.status === undefined || attempt.status >= 500) await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Sends the attempt's command again, with its Idempotency-Key, as a client retrying it would. */
  resend(previous: Attempt): Promise<Attempt> {
    return this.send(previous.key);
  }

  private send(key: string = randomUUID()): Promise<Attempt> {
    const { url, token } = this.target();
    const attempt: Attempt = { key, name: `load ${key}`, startedAt: Date.now() };
    const payload = JSON.stringify({ name: attempt.name, threat_model_framework: 'STRIDE' });
    return new Promise((resolve) => {
      const req = http.request(`${url}/threat_models`, {
        method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${token}`, 'idempotency-key': key },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => {
          attempt.status = res.statusCode;
          attempt.retryAfter = typeof res.headers['retry-after'] === 'string' ? res.headers['retry-after'] : null;
          try { attempt.body = JSON.parse(text) as Attempt['body']; } catch { attempt.body = {}; }
          resolve(attempt);
        });
        res.on('error', (err: NodeJS.ErrnoException) => { attempt.error = err.code ?? err.message; resolve(attempt); });
      });
      req.on('error', (err: NodeJS.ErrnoException) => { attempt.error = err.code ?? err.message; resolve(attempt); });
      req.end(payload);
    });
  }

  /** Stops sending and waits for every request in flight to end. */
  async stop(): Promise<Attempt[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.attempts;
  }

  /** Resolves once `n` more attempts than now have ended. */
  async more(n: number): Promise<void> {
    const target = this.attempts.length + n;
    while (this.attempts.length < target && this.running) await new Promise((r) => setTimeout(r, 20));
  }
}

/** Committed: 201 when the read tables already show it, 202 when they do not yet. */
export const accepted = (a: Attempt): boolean => a.status === 201 || a.status === 202;

/** A clean refusal for a fault the request did not cause: 503 with the contract's error body. */
export const cleanUnavailable = (a: Attempt): boolean =>
  a.status === 503 && a.body?.error === 'service_unavailable' && typeof a.body?.error_description === 'string' && a.body.error_description.length > 0
  && typeof a.retryAfter === 'string' && /^\d+$/.test(a.retryAfter);
