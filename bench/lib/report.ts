import type { Cell } from './table.js';

export interface ReportTable {
  title: string;
  headers: string[];
  rows: Cell[][];
}

export interface Verdict {
  bar: string;
  measured: string;
  pass: boolean;
}

/** What every bench returns; run.ts prints it and keeps a JSON copy. */
export interface BenchReport {
  name: string;
  started_at: string;
  finished_at: string;
  parameters: Record<string, unknown>;
  environment: Record<string, unknown>;
  tables: ReportTable[];
  verdicts: Verdict[];
  notes: string[];
  /** Raw measurements, for anyone who wants to recompute. */
  raw: unknown;
}

export interface BenchOptions {
  seconds: number;
  warmupSeconds: number;
  /** Each cell's time is split into this many turns per system. */
  slices: number;
  writers: number[];
  only: string[] | null;
  /** Offered request rates (req/s) for the open-loop benches; null = the bench's own default. */
  rates: number[] | null;
  /** Concurrent connections for closed-loop cells; null = the bench's own default. */
  connections: number[] | null;
  /** Rebuild a cached seeded database instead of reusing it. */
  reseed: boolean;
  /** Log level of the servers under test (the service's default is info, which logs every request). */
  logLevel: string;
  /** Seed size for the queries bench: threat models in all, and how many the bench user can read. */
  models: number;
  readable: number;
  /** Threats under the threats list's threat model, and children of every kind under the full body's. */
  threats: number;
  children: number;
  /** Where the service's projections run for command and queries: inside serve, or in a separate worker. */
  topology: 'inline' | 'worker';
  /** Events the rebuild bench generates. */
  events: number;
  /** Rebuild: every event applied one by one, the projections' bulk folds unused. */
  perEvent?: boolean;
  /** Rebuild: projections written, indexed, verified and swapped at once after the shared read. */
  parallel?: number;
  log: (line: string) => void;
}

/** A bad option value found by a bench (an unknown --only name); printed with the usage line. */
export class BenchUsageError extends Error {}

/** The names of `only` among `known` (all of them when null); an unknown name is an error, not an empty run. */
export function selectNames<T extends string>(only: string[] | null, known: readonly T[]): T[] {
  if (!only) return [...known];
  const unknown = only.filter((name) => !(known as readonly string[]).includes(name));
  if (unknown.length > 0) throw new BenchUsageError(`unknown --only ${unknown.join(', ')}; choose from ${known.join(', ')}`);
  return known.filter((name) => only.includes(name));
}
