import { existsSync, readFileSync } from 'node:fs';

// /proc/<pid>/stat counts in clock ticks; Linux fixes USER_HZ at 100 for user space.
const MICROS_PER_TICK = 10_000;

/** CPU time (user + system, µs) used so far by the given processes; ones that exited count 0. */
export function processCpuMicros(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK;
    } catch {
      // The backend exited between listing and reading.
    }
  }
  return total;
}

/** Busy and total jiffies of the whole machine, to tell how saturated it was. */
export function machineTicks(): { idle: number; total: number } {
  const values = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: values[3]! + values[4]!, total: values.reduce((a, b) => a + b, 0) };
}

/** Backend CPU can only be read when PostgreSQL runs on this Linux host. */
export function canReadProcessCpu(): boolean {
  return process.platform === 'linux' && existsSync('/proc/self/stat');
}
