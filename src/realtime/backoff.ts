/** The first retry's longest wait after a lost race, in milliseconds; each later one may wait twice as long. */
export const RACE_BACKOFF_BASE_MS = 2;
/** No retry waits longer than this: fifty lost races cost seconds at most, not minutes. */
export const RACE_BACKOFF_MAX_MS = 100;

/**
 * How long a writer waits before deciding a batch again after losing a race to another
 * instance's writer: a random time up to a cap that doubles with each race lost ("full
 * jitter"). Two writers that collided on one diagram retry at different moments instead of
 * colliding again in lockstep.
 */
export function raceBackoffMs(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(RACE_BACKOFF_MAX_MS, RACE_BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return random() * cap;
}
