import WebSocket from 'ws';

/** A message a test waits for: its type, and what else must hold. */
type Match = (message: Record<string, unknown>) => boolean;

/**
 * A real WebSocket client for the collaboration hub: every message it receives is kept, and a
 * test waits for the next one of a type (or matching a predicate) with a deadline.
 */
export interface TestSocket {
  received: Record<string, unknown>[];
  send(message: unknown): void;
  /** The next message not yet taken that matches, waiting up to `timeoutMs`. */
  next(type: string, match?: Match, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Messages of a type taken so far or waiting, without waiting. */
  all(type: string): Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
  /** Stops (and starts again) reading from the socket, as a client that falls behind. */
  pause(): void;
  resume(): void;
}

/** Opens a socket; resolves once open, rejects with the HTTP status when the upgrade is refused. */
export function openSocket(url: string): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const received: Record<string, unknown>[] = [];
    const taken = new Set<number>();
    const waiters: (() => void)[] = [];
    ws.on('message', (raw) => {
      received.push(JSON.parse(raw.toString()));
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<{ code: number; reason: string }>((done) => ws.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${body}`), { status: res.statusCode, body })));
    });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      received,
      send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
      all: (type) => received.filter((m) => m.message_type === type),
      next(type, match = () => true, timeoutMs = 10_000) {
        return new Promise((done, fail) => {
          const timer = setTimeout(() => fail(new Error(`no ${type} within ${timeoutMs} ms; received ${JSON.stringify(received.map((m) => m.message_type))}`)), timeoutMs);
          const look = () => {
            const i = received.findIndex((m, n) => !taken.has(n) && m.message_type === type && match(m));
            if (i < 0) return void waiters.push(look);
            taken.add(i);
            clearTimeout(timer);
            done(received[i]!);
          };
          look();
        });
      },
      closed,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      async close() {
        if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
        await closed;
      },
    }));
  });
}
