import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpTarget } from '../../bench/lib/http.js';
import { latenciesFromSchedule, runOpenLoop } from '../../bench/lib/open-loop.js';

// The open-loop generator of bench/command, bench/lag and bench/queries must not hide a slow
// target or a stalled generator (coordinated omission): latency counts from the scheduled start.

const SERVICE_MS = 50;
let server: http.Server;
let url: string;

beforeAll(async () => {
  // Answers one request at a time, each after SERVICE_MS: the k-th answer cannot come before (k + 1) × SERVICE_MS.
  let queue = Promise.resolve();
  server = http.createServer((req, res) => {
    req.resume();
    queue = queue.then(() => new Promise<void>((resolve) => setTimeout(() => {
      res.end('ok');
      resolve();
    }, SERVICE_MS)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('open-loop load', () => {
  it('keeps to its timetable against a slow server and counts the queueing it causes', async () => {
    const target = httpTarget(url, 1);
    try {
      // 100 req/s for 200 ms = 20 requests, one every 10 ms, to a server that needs 50 ms for each.
      const result = await runOpenLoop({ rate: 100, warmupMs: 0, measureMs: 200, send: () => target.send({ method: 'GET', path: '/' }) });
      expect(result.samples).toHaveLength(20);
      expect(result.unfinished).toBe(0);
      expect(result.samples.every((s) => s.result?.status === 200)).toBe(true);
      const first = result.samples[0]!.scheduled;
      result.samples.forEach((s, k) => expect(s.scheduled - first).toBeCloseTo(10 * k, 6));
      // Request k answers no earlier than (k + 1) × 50 ms after the start but was due at 10 k ms: it waited at least 40 k + 50 ms.
      // (1 ms per timer of slack: Node may fire a timer up to a millisecond early.) A closed-loop measurement would report ~50 ms each.
      const latencies = latenciesFromSchedule(result.samples);
      latencies.forEach((latency, k) => expect(latency).toBeGreaterThanOrEqual((SERVICE_MS - 1) * (k + 1) - 10 * k - 1));
      expect(Math.max(...latencies)).toBeGreaterThan(3 * SERVICE_MS);
    } finally {
      await target.close();
    }
  });

  it('sends on schedule without waiting for answers', async () => {
    // A server that answers nobody until all 20 requests have arrived (or 5 s passed): a generator
    // that waits for an answer before sending more would only get them through the timeout.
    const held: http.ServerResponse[] = [];
    let releasedByCount = false;
    let timedOut = false;
    const gate = http.createServer((req, res) => {
      req.resume();
      if (timedOut) return void res.end('late');
      held.push(res);
      if (held.length === 20) {
        releasedByCount = true;
        for (const r of held) r.end('ok');
      }
    });
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const timeout = setTimeout(() => {
      timedOut = true;
      for (const r of held) if (!r.writableEnded) r.end('late');
    }, 5000);
    const target = httpTarget(`http://127.0.0.1:${(gate.address() as AddressInfo).port}`, 20);
    try {
      const result = await runOpenLoop({ rate: 100, warmupMs: 0, measureMs: 200, send: () => target.send({ method: 'GET', path: '/' }) });
      expect(result.samples).toHaveLength(20);
      expect(releasedByCount).toBe(true);
      expect(result.max_in_flight).toBe(20);
    } finally {
      clearTimeout(timeout);
      await target.close();
      gate.closeAllConnections();
      await new Promise((resolve) => gate.close(resolve));
    }
  });

  it('charges a stalled generator to the requests it delayed', async () => {
    const stall = 100;
    const result = await runOpenLoop({
      rate: 100, warmupMs: 0, measureMs: 200,
      send: async (i) => {
        // The generator's event loop is blocked while the first request is being sent.
        if (i === 0) for (const t0 = performance.now(); performance.now() - t0 < stall;);
      },
    });
    const latencies = latenciesFromSchedule(result.samples);
    // Requests 1..9 were due at 10..90 ms but could not go out before 100 ms: their latency includes the wait.
    for (let k = 1; k < 10; k++) expect(latencies[k]).toBeGreaterThanOrEqual(stall - 10 * k);
    expect(result.samples[5]!.sent - result.samples[5]!.scheduled).toBeGreaterThanOrEqual(stall - 50);
  });

  it('leaves the warm-up out of the samples but sends it', async () => {
    let sent = 0;
    const result = await runOpenLoop({ rate: 200, warmupMs: 50, measureMs: 100, send: async () => { sent++; } });
    // 150 ms at 200/s = 30 requests, the first 10 of them in the warm-up.
    expect(sent).toBe(30);
    expect(result.samples).toHaveLength(20);
  });
});
