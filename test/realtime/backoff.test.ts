import { describe, expect, it } from 'vitest';
import { RACE_BACKOFF_BASE_MS, RACE_BACKOFF_MAX_MS, raceBackoffMs } from '../../src/realtime/backoff.js';

/** The writer's wait after a lost race: random, within a cap that doubles per race lost and is bounded. */
describe('the wait after a lost race', () => {
  it('is drawn at random below a cap that doubles with each race lost, never above the bound', () => {
    expect(raceBackoffMs(0, () => 0)).toBe(0);
    expect(raceBackoffMs(0, () => 0.5)).toBe(RACE_BACKOFF_BASE_MS / 2);
    expect(raceBackoffMs(3, () => 0.5)).toBe(RACE_BACKOFF_BASE_MS * 4);
    for (const attempt of [10, 49, 1000]) expect(raceBackoffMs(attempt, () => 0.999_999)).toBeLessThan(RACE_BACKOFF_MAX_MS);
    // Two writers that collided draw different waits (Math.random): not the same retry moment every time.
    const waits = new Set(Array.from({ length: 20 }, () => raceBackoffMs(4)));
    expect(waits.size).toBeGreaterThan(1);
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(0);
    for (const w of waits) expect(w).toBeLessThan(RACE_BACKOFF_BASE_MS * 16);
  });
});
