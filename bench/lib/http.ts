import { Pool } from 'undici';

/** What the load generator keeps of one answer. */
export interface Answer {
  status: number;
  /** `X-Event-Position`, when the answer has one. */
  position: number | null;
  /** `Location`, when the answer has one (a create's new resource). */
  location: string | null;
  bytes: number;
}

export interface HttpTarget {
  send(request: { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string }): Promise<Answer>;
  close(): Promise<void>;
}

/**
 * An undici pool of `connections` keep-alive connections, no pipelining: each connection
 * carries one request at a time, as a browser's does. Requests beyond that wait in the pool's
 * queue; open-loop latencies count that wait (it is measured from the scheduled start).
 */
export function httpTarget(baseUrl: string, connections: number): HttpTarget {
  const pool = new Pool(baseUrl, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
  return {
    async send({ method, path, headers, body }) {
      const res = await pool.request({ method, path, headers, body });
      const buffer = await res.body.arrayBuffer();
      const { 'x-event-position': position, location } = res.headers;
      return {
        status: res.statusCode,
        position: typeof position === 'string' ? Number(position) : null,
        location: typeof location === 'string' ? location : null,
        bytes: buffer.byteLength,
      };
    },
    async close() {
      await pool.destroy();
    },
  };
}
