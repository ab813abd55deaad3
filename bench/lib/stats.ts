/** Latency percentiles of one measured cell, in milliseconds. */
export interface LatencyStats {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** The q-quantile of an ascending array (nearest rank); NaN when empty. */
export const quantile = (sorted: ArrayLike<number>, q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export function latencyStats(values: Iterable<number>): LatencyStats {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50_ms: quantile(sorted, 0.5),
    p99_ms: quantile(sorted, 0.99),
    max_ms: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
  };
}

/** Rounded for tables; NaN and infinities stay visible as text rather than turning into null in JSON. */
export const round = (n: number, digits = 0): number | string => (Number.isFinite(n) ? Number(n.toFixed(digits)) : String(n));
