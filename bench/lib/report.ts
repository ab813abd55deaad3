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
  log: (line: string) => void;
}
