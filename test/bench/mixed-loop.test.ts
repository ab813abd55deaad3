import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpTarget } from '../../bench/lib/http.js';
import { runMixedLoop, type MixOperation } from '../../bench/lib/mixed-loop.js';
import { freePort } from '../../bench/lib/service.js';

// bench/scaling's load generator: requests spread over the instances in turn, and no answer
// that is not the expected one goes uncounted (a non-2xx or a refused connection is a sample).

/** A server that counts what it is sent and answers /ok with 200, anything else with 503. */
function countingServer(): { server: http.Server; received: () => number } {
  let received = 0;
  const server = http.createServer((req, res) => {
    received++;
    req.resume();
    res.statusCode = req.url === '/ok' ? 200 : 503;
    res.end();
  });
  return { server, received: () => received };
}

const servers = [countingServer(), countingServer()];
let urls: string[];

beforeAll(async () => {
  urls = await Promise.all(servers.map(async ({ server }) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }));
});

afterAll(async () => {
  for (const { server } of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const ok: MixOperation = { name: 'ok', expect: 200, build: () => ({ method: 'GET', path: '/ok' }) };
const failing: MixOperation = { name: 'failing', expect: 200, build: () => ({ method: 'GET', path: '/fail' }) };

describe('mixed closed loop', () => {
  it('sends request n to instance n mod 2 and counts every unexpected answer', async () => {
    const targets = urls.map((url) => httpTarget(url, 4));
    try {
      const result = await runMixedLoop({ targets, clients: 4, cycle: [ok, failing], ms: 1000 });
      // Round robin over the whole run: the instances were sent the same number of requests, give or take one.
      const [a, b] = servers.map((s) => s.received());
      expect(a! + b!).toBeGreaterThanOrEqual(4);
      expect(Math.abs(a! - b!)).toBeLessThanOrEqual(1);
      // Every client walks the cycle, so both operations run; the 503s are samples, not dropped.
      const statuses = (name: string) => new Set(result.samples.filter((s) => s.op === name).map((s) => s.status));
      expect(statuses('ok')).toEqual(new Set([200]));
      expect(statuses('failing')).toEqual(new Set([503]));
      expect(result.firstError).toBe('failing answered 503, expected 200');
    } finally {
      await Promise.all(targets.map((t) => t.close()));
    }
  });

  it('counts a refused connection as a sample with no answer, and stops past the limit', async () => {
    const closed = httpTarget(`http://127.0.0.1:${await freePort()}`, 2);
    const reachable = httpTarget(urls[0]!, 2);
    try {
      const few = await runMixedLoop({ targets: [reachable, closed], clients: 2, cycle: [ok], ms: 500, maxTransportErrors: Number.MAX_SAFE_INTEGER });
      expect(few.samples.some((s) => s.status === 0)).toBe(true);
      expect(few.samples.some((s) => s.status === 200)).toBe(true);
      expect(few.firstError).toMatch(/^ok: /);
      await expect(runMixedLoop({ targets: [closed], clients: 2, cycle: [ok], ms: 60_000, maxTransportErrors: 5 })).rejects.toThrow(/too many transport errors/);
    } finally {
      await Promise.all([closed.close(), reachable.close()]);
    }
  });
});
