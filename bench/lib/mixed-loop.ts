import type { HttpTarget } from './http.js';

export interface MixRequest { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string }

/** One kind of request of a mix, and the status that counts as its success. */
export interface MixOperation {
  name: string;
  expect: number;
  /** The request for the n-th request of the run (n counts every request over every client). */
  build(n: number): MixRequest;
}

/** One answered (or failed) request inside the measured window; status 0 = no answer (a transport error). */
export interface MixSample { op: string; status: number; ms: number }

export interface MixedLoopResult {
  samples: MixSample[];
  /** Highest `X-Event-Position` answered, to wait for the projections on. */
  head: number;
  /** The first unexpected status or transport error, for the notes. */
  firstError: string | null;
}

export interface MixedLoopOptions {
  /** The instances to spread over: request n goes to targets[n mod length] (client-side round robin). */
  targets: HttpTarget[];
  /** Clients in all, each with one request in flight. */
  clients: number;
  cycle: readonly MixOperation[];
  ms: number;
  /** Sent with every request (the bearer token). */
  headers?: Record<string, string>;
  /** Past this many transport errors the run stops: a client that cannot reach the service must not spin. */
  maxTransportErrors?: number;
}

/**
 * Closed loop over a mix: each client sends its next request when the answer arrives, walking
 * `cycle` from its own offset (client c starts at operation c), so the whole mix is in flight at
 * once. Counts only requests that start and end inside the window. Nothing is dropped: an
 * unexpected status is a sample with that status, a transport error one with status 0.
 */
export async function runMixedLoop(options: MixedLoopOptions): Promise<MixedLoopResult> {
  const { targets, cycle } = options;
  const limit = options.maxTransportErrors ?? 1000;
  const start = performance.now();
  const end = start + options.ms;
  const samples: MixSample[] = [];
  let next = 0;
  let head = 0;
  let transportErrors = 0;
  let firstError: string | null = null;
  const client = async (c: number) => {
    for (let k = c; performance.now() < end; k++) {
      const op = cycle[k % cycle.length]!;
      const n = next++;
      const request = op.build(n);
      const t0 = performance.now();
      let status = 0;
      try {
        const answer = await targets[n % targets.length]!.send({ ...request, headers: { ...options.headers, ...request.headers } });
        status = answer.status;
        if (answer.position !== null && answer.position > head) head = answer.position;
        if (status !== op.expect) firstError ??= `${op.name} answered ${status}, expected ${op.expect}`;
      } catch (err) {
        firstError ??= `${op.name}: ${(err as Error).message}`;
        if (++transportErrors > limit) throw new Error(`too many transport errors, first: ${firstError}`, { cause: err });
      }
      const t1 = performance.now();
      if (t0 >= start && t1 <= end) samples.push({ op: op.name, status, ms: t1 - t0 });
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, c) => client(c)));
  return { samples, head, firstError };
}
