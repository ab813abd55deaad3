import { randomUUID } from 'node:crypto';
import type { EventMetadata } from '../../src/events/types.js';

/** What one commit writes: `batch` events, to a new stream each time or to the writer's one long stream. */
export interface Workload {
  name: string;
  batch: number;
  stream: 'new' | 'long';
}

export const WORKLOADS: Workload[] = [
  { name: 'single/new-stream', batch: 1, stream: 'new' },
  { name: 'single/long-stream', batch: 1, stream: 'long' },
  { name: 'batch10/new-stream', batch: 10, stream: 'new' },
  { name: 'batch10/long-stream', batch: 10, stream: 'long' },
];

/** The workloads named by `--only` (all when null); an unknown name is an error, not an empty run. */
export function selectWorkloads(only: string[] | null): Workload[] {
  if (!only) return WORKLOADS;
  const unknown = only.filter((name) => !WORKLOADS.some((w) => w.name === name));
  if (unknown.length > 0) throw new Error(`unknown workload ${unknown.join(', ')}; choose from ${WORKLOADS.map((w) => w.name).join(', ')}`);
  return WORKLOADS.filter((w) => only.includes(w.name));
}

export const applicationName = (system: { tag: string }): string => `tmi-bench-${system.tag}`;

export const BENCH_EVENT_TYPE = 'BenchThreatAdded' as const;
export const BENCH_STREAM_TYPE = 'bench';

export type BenchEventData = {
  threat_model_id: string;
  threat_id: string;
  name: string;
  severity: string;
  n: number;
};

// A payload about the size of a real threat event (~190 bytes of JSON), identical for every system.
const THREAT_MODEL_ID = randomUUID();
export const benchEventData = (n: number): BenchEventData => ({
  threat_model_id: THREAT_MODEL_ID,
  threat_id: randomUUID(),
  name: 'Spoofed session token on the login endpoint',
  severity: 'high',
  n,
});

export const BENCH_METADATA: EventMetadata = {
  actor: { user_id: 'bench-user', email: 'bench@example.com', provider: 'tmi' },
  trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  correlation_id: 'bench-correlation',
  causation_id: null,
  request_id: 'bench-request',
};

/** What a system under test offers one cell: one commit per call, by a given writer. */
export interface CellTarget {
  op(writer: number): Promise<number>;
  close(): Promise<void>;
}

export interface SystemUnderTest {
  name: string;
  /** Short, identifier-safe: used in stream ids and as the `tmi-bench-<tag>` application name. */
  tag: string;
  /** Once per run, outside any timing (schemas, tables). */
  setup(url: string): Promise<void>;
  /**
   * A pool of `writers` connections for one slice of a cell. `streams` lives for the whole
   * cell, so a long stream continues across slices with exact expected versions.
   */
  open(url: string, workload: Workload, writers: number, streams: WriterStreams): Promise<CellTarget>;
}

/**
 * Per-writer stream naming and version tracking shared by every system, so all of them write
 * the same stream shapes: `bench-<cell>-<writer>-<k>` for new streams, one stream per writer otherwise.
 */
export class WriterStreams {
  private readonly counters: number[];
  private readonly versions: number[];

  constructor(readonly workload: Workload, writers: number, private readonly cellTag: string) {
    this.counters = new Array<number>(writers).fill(0);
    this.versions = new Array<number>(writers).fill(0);
  }

  /** The stream this writer's next commit goes to and the version it expects (0 = new stream). */
  next(writer: number): { stream_id: string; expected: number; seq: number } {
    const seq = this.counters[writer]!++;
    if (this.workload.stream === 'new') return { stream_id: `bench-${this.cellTag}-${writer}-${seq}`, expected: 0, seq };
    return { stream_id: `bench-${this.cellTag}-${writer}`, expected: this.versions[writer]!, seq };
  }

  /** Called after a successful commit so the long stream's next expected version is exact. */
  committed(writer: number, events: number): void {
    this.versions[writer]! += events;
  }
}
