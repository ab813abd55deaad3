/**
 * Fixed-rate, open-loop load. Request i is scheduled at `start + i / rate`, whatever happened
 * to earlier ones: a slow answer never delays the next request (the load keeps coming, as real
 * clients' does), and every latency is measured from the request's *scheduled* start. When the
 * generator itself falls behind (a stalled event loop, a full connection pool), the delay counts
 * against the request instead of silently disappearing: this is what avoids coordinated omission.
 */
export interface OpenLoopOptions<T> {
  /** Requests per second. */
  rate: number;
  /** Requests scheduled in the first `warmupMs` are sent but not counted. */
  warmupMs: number;
  measureMs: number;
  /** One request. Its resolved value is kept with the sample; a rejection counts as an error. */
  send: (i: number) => Promise<T>;
  /** How long to wait for requests still in flight after the last one was scheduled. */
  drainTimeoutMs?: number;
}

export interface OpenLoopSample<T> {
  /** When the request should have started, when it was handed to `send`, and when it settled (performance.now() ms). */
  scheduled: number;
  sent: number;
  done: number;
  result: T | null;
  error: string | null;
}

export interface OpenLoopResult<T> {
  rate: number;
  measureMs: number;
  /** Samples of the requests scheduled inside the measured window, in schedule order. */
  samples: OpenLoopSample<T>[];
  /** Measured-window requests that had not settled when the drain timeout passed. */
  unfinished: number;
  /** Most requests in flight at once (all of them, warm-up included). */
  max_in_flight: number;
  /** Settled requests per second over the whole run (warm-up included): falls below `rate` when the target cannot keep up. */
  completed_per_s: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runOpenLoop<T>(options: OpenLoopOptions<T>): Promise<OpenLoopResult<T>> {
  const interval = 1000 / options.rate;
  const total = Math.floor(((options.warmupMs + options.measureMs) * options.rate) / 1000);
  const firstMeasured = Math.ceil((options.warmupMs * options.rate) / 1000);
  const samples: OpenLoopSample<T>[] = [];
  const pending = new Set<Promise<void>>();
  let inFlight = 0;
  let maxInFlight = 0;
  let settled = 0;
  const start = performance.now();

  const fire = (i: number) => {
    const sample: OpenLoopSample<T> = { scheduled: start + i * interval, sent: performance.now(), done: NaN, result: null, error: null };
    if (i >= firstMeasured) samples.push(sample);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let request: Promise<T>;
    try {
      request = options.send(i);
    } catch (err) {
      request = Promise.reject(err);
    }
    const tracked = request.then(
      (result) => { sample.result = result; },
      (err: unknown) => { sample.error = (err as Error)?.message ?? String(err); },
    ).finally(() => {
      sample.done = performance.now();
      inFlight--;
      settled++;
      pending.delete(tracked);
    });
    pending.add(tracked);
  };

  let next = 0;
  while (next < total) {
    // Fire everything that is due, including requests a late timer made us miss: they go out
    // now, and their latency still counts from when they were due.
    const now = performance.now();
    while (next < total && start + next * interval <= now) fire(next++);
    if (next < total) await sleep(Math.max(0, start + next * interval - performance.now()));
  }
  const lastScheduled = performance.now();
  const drain = options.drainTimeoutMs ?? 30_000;
  if (pending.size > 0) await Promise.race([Promise.allSettled([...pending]), sleep(drain)]);
  const elapsed = performance.now() - start;
  return {
    rate: options.rate,
    measureMs: options.measureMs,
    samples,
    unfinished: samples.filter((s) => Number.isNaN(s.done)).length,
    max_in_flight: maxInFlight,
    completed_per_s: settled / (Math.max(elapsed, lastScheduled - start) / 1000),
  };
}

/** Latencies from the scheduled start (what a user waits) of every settled sample; errors are counted apart, not left out. */
export const latenciesFromSchedule = (samples: OpenLoopSample<unknown>[]): number[] =>
  samples.filter((s) => !Number.isNaN(s.done)).map((s) => s.done - s.scheduled);

/** How late the generator sent each request; large values mean the load generator, not the target, was the bottleneck. */
export const sendLags = (samples: OpenLoopSample<unknown>[]): number[] => samples.map((s) => s.sent - s.scheduled);
