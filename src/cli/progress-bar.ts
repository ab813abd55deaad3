/** What a progress line shows: work done of a total, at a rate measured since the start. */
export interface ProgressBar {
  update(label: string, done: number, total: number): void;
  done(message: string): void;
}

const WIDTH = 30;
/** Lines for a log (not a terminal) come at most this often, so a file gets a few lines a minute, not thousands. */
const LOG_EVERY_MS = 5_000;

const duration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

/** The text of one progress line: bar (terminals only), counts, events/s and the time left at that rate. */
export function progressLine(label: string, done: number, total: number, elapsedMs: number, bar: boolean): string {
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  const filled = Math.round(ratio * WIDTH);
  const drawn = bar ? `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ` : '';
  return `${label} ${drawn}${done}/${total} events ${(ratio * 100).toFixed(1)}% ${Math.round(rate)} events/s ETA ${duration(eta)}`;
}

/**
 * A progress bar on stderr: redrawn in place on a terminal, plain lines every few seconds
 * otherwise (a redirected log would fill with carriage returns).
 */
export function progressBar(stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): ProgressBar {
  const tty = stream.isTTY === true;
  let started = now();
  let startedLabel = '';
  let lastLine = 0;
  return {
    update(label, done, total) {
      if (label !== startedLabel) {
        startedLabel = label;
        started = now();
        lastLine = 0;
      }
      const t = now();
      if (tty) return void stream.write(`\r\x1b[2K${progressLine(label, done, total, t - started, true)}`);
      if (lastLine !== 0 && t - lastLine < LOG_EVERY_MS) return;
      lastLine = t;
      stream.write(`${progressLine(label, done, total, t - started, false)}\n`);
    },
    done(message) {
      stream.write(`${tty ? '\r\x1b[2K' : ''}${message}\n`);
      startedLabel = '';
    },
  };
}
