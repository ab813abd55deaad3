import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

/** Facts that decide how numbers from this machine compare with numbers from another. */
export async function machineFacts(): Promise<Record<string, unknown>> {
  return {
    cpus: availableParallelism(),
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gib: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** The 1-, 5- and 15-minute load averages, as `uptime` prints them: how busy the machine was besides the bench. */
export const loadAverage = (): string => loadavg().map((n) => n.toFixed(2)).join(', ');
