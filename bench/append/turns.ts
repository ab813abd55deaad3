import { WriterStreams, type CellTarget, type SystemUnderTest, type Workload } from './workload.js';

export interface TurnsOptions<R> {
  url: string;
  systems: SystemUnderTest[];
  workload: Workload;
  writers: number;
  slices: number;
  /** Unique per run and cell, so streams never collide with an earlier cell's. */
  cellTag: string;
  measure: (system: SystemUnderTest, target: CellTarget) => Promise<R>;
}

/**
 * Runs one cell: the systems take turns in short slices (rotating who goes first), so a burst
 * of load from elsewhere on the machine lands on all of them instead of on whichever ran at
 * the time. Each slice gets a fresh pool; the stream state lives across slices, so long
 * streams continue with exact expected versions. Returns each system's slice results.
 */
export async function takeTurns<R>(options: TurnsOptions<R>): Promise<R[][]> {
  const { systems, workload, writers } = options;
  const streams = systems.map((s) => new WriterStreams(workload, writers, `${s.tag}-${options.cellTag}`));
  const results: R[][] = systems.map(() => []);
  for (let k = 0; k < options.slices; k++) {
    for (let j = 0; j < systems.length; j++) {
      const i = (j + k) % systems.length;
      const target = await systems[i]!.open(options.url, workload, writers, streams[i]!);
      try {
        results[i]!.push(await options.measure(systems[i]!, target));
      } finally {
        await target.close();
      }
    }
  }
  return results;
}
