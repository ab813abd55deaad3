/** One timed slice: N writers loop on `op` for a warm-up, then for the measured window. */
export interface SliceOptions {
  writers: number;
  warmupMs: number;
  measureMs: number;
  /** One commit by writer `w`; resolves to the number of events it wrote. */
  op: (writer: number) => Promise<number>;
}

export interface Slice {
  events: number;
  latencies: number[];
  measureMs: number;
  errors: number;
  first_error: string | null;
}

export interface CellResult {
  events: number;
  commits: number;
  seconds: number;
  events_per_s: number;
  commits_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  first_error: string | null;
  /** events/s of each slice, to show how steady the machine was. */
  slice_events_per_s: number[];
}

const quantile = (sorted: Float64Array, q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/**
 * Counts only commits that both started and finished inside the measured window, so the
 * warm-up and the tail of in-flight requests after the deadline do not skew the rate.
 */
export async function runSlice(options: SliceOptions): Promise<Slice> {
  const start = performance.now();
  const windowStart = start + options.warmupMs;
  const windowEnd = windowStart + options.measureMs;
  const latencies: number[] = [];
  let events = 0;
  let errors = 0;
  let firstError: string | null = null;
  let aborted = false;

  const writer = async (w: number) => {
    while (!aborted && performance.now() < windowEnd) {
      const t0 = performance.now();
      let n: number;
      try {
        n = await options.op(w);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        // A writer that keeps failing must not spin; the error count is reported beside the rate.
        if (errors > 1000) {
          aborted = true;
          throw new Error(`too many errors, first: ${firstError}`, { cause: err });
        }
        continue;
      }
      const t1 = performance.now();
      if (t0 >= windowStart && t1 <= windowEnd) {
        latencies.push(t1 - t0);
        events += n;
      }
    }
  };
  await Promise.all(Array.from({ length: options.writers }, (_, w) => writer(w)));
  return { events, latencies, measureMs: options.measureMs, errors, first_error: firstError };
}

/** Pools the slices of one system in one cell into rates and latency percentiles. */
export function summarize(slices: Slice[]): CellResult {
  const latencies = Float64Array.from(slices.flatMap((s) => s.latencies)).sort();
  const events = slices.reduce((n, s) => n + s.events, 0);
  const seconds = slices.reduce((n, s) => n + s.measureMs, 0) / 1000;
  return {
    events,
    commits: latencies.length,
    seconds,
    events_per_s: events / seconds,
    commits_per_s: latencies.length / seconds,
    p50_ms: quantile(latencies, 0.5),
    p99_ms: quantile(latencies, 0.99),
    errors: slices.reduce((n, s) => n + s.errors, 0),
    first_error: slices.find((s) => s.first_error)?.first_error ?? null,
    slice_events_per_s: slices.map((s) => Math.round(s.events / (s.measureMs / 1000))),
  };
}
