import { describe, expect, it } from 'vitest';
import { PLAIN_PROGRESS_INTERVAL_MS, progressLine, transferProgress } from '../../src/cli/progress.js';

/** A stderr that is not a terminal (a log file, CI), recording what is written. */
function plainStream() {
  const written: string[] = [];
  return { written, stream: { isTTY: false, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream };
}

describe('transfer progress', () => {
  it('off a terminal: a plain line every interval, then one summary', () => {
    const { written, stream } = plainStream();
    let now = 1_000;
    const progress = transferProgress('import', stream, () => now);
    progress.start(10_000);
    now += 1_000;
    progress.advance(1_000);
    expect(written).toEqual([]);
    now += PLAIN_PROGRESS_INTERVAL_MS;
    progress.advance(4_000);
    expect(written).toEqual([`${progressLine('import', 5_000, 10_000, 1_000 + PLAIN_PROGRESS_INTERVAL_MS)}\n`]);
    expect(written[0]).toBe('import: 5000/10000 events (50%), 455 events/s, ETA 11 s\n');
    now += 1_000;
    progress.advance(5_000);
    progress.finish();
    progress.finish();
    expect(written.slice(1)).toEqual(['import: 10000 events in 12.0 s (833 events/s)\n']);
  });

  it('says nothing for a transfer that never started (refused before its header)', () => {
    const { written, stream } = plainStream();
    transferProgress('import', stream).finish();
    expect(written).toEqual([]);
  });
});
