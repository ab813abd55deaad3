import cliProgress from 'cli-progress';
import type { TransferProgress } from '../events/transfer/format.js';

/** How often a progress line is written when stderr is not a terminal (a log file, CI). */
export const PLAIN_PROGRESS_INTERVAL_MS = 10_000;

/**
 * Progress of an export or import, on stderr only (stdout may be the export itself): a bar with
 * events/s and ETA on a terminal; otherwise a plain line every PLAIN_PROGRESS_INTERVAL_MS (none
 * for a transfer shorter than that), and on both one summary line at the end.
 */
export function transferProgress(label: string, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): TransferProgress {
  let total = 0;
  let done = 0;
  let started = 0;
  let lastLine = 0;
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(n) {
      total = n;
      started = lastLine = now();
      if (stream.isTTY) {
        bar = new cliProgress.SingleBar({
          stream, fps: 5, etaBuffer: 50, hideCursor: true, clearOnComplete: true,
          format: `${label} [{bar}] {percentage}% | {value}/{total} events | {rate} events/s | ETA {eta_formatted}`,
        }, cliProgress.Presets.shades_classic);
        bar.start(n, 0, { rate: 0 });
      }
    },
    advance(n) {
      done += n;
      const t = now();
      if (bar) return void bar.update(done, { rate: Math.round(rate(done, t - started)) });
      if (t - lastLine >= PLAIN_PROGRESS_INTERVAL_MS) {
        lastLine = t;
        stream.write(`${progressLine(label, done, total, t - started)}\n`);
      }
    },
    finish() {
      if (started === 0) return;
      bar?.stop();
      const elapsed = now() - started;
      stream.write(`${label}: ${done} events in ${(elapsed / 1000).toFixed(1)} s (${Math.round(rate(done, elapsed))} events/s)\n`);
      started = 0;
    },
  };
}

const rate = (done: number, elapsedMs: number): number => (elapsedMs > 0 ? (done * 1000) / elapsedMs : 0);

/** `export: 12000/50000 events (24%), 3100 events/s, ETA 12 s` */
export function progressLine(label: string, done: number, total: number, elapsedMs: number): string {
  const r = rate(done, elapsedMs);
  const eta = r > 0 ? `${Math.ceil((total - done) / r)} s` : 'unknown';
  const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
  return `${label}: ${done}/${total} events (${pct}%), ${Math.round(r)} events/s, ETA ${eta}`;
}
