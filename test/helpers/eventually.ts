/**
 * The one polling helper of the tests: waits for something that happens asynchronously (a
 * projection, a notification, a reconnect). The deadline only bounds a hung test; it asserts
 * nothing about speed, so it is generous.
 */
export interface PollOptions {
  /** Give up after this long (default 30 s). */
  deadlineMs?: number;
  /** Pause between probes (default 25 ms). */
  everyMs?: number;
}

/** What a probe returns while the awaited thing has not happened yet. */
type NotYet = false | null | undefined;

/** Resolves with the probe's first result that is not false, null or undefined; with false once the deadline has passed. */
export async function pollUntil<T>(probe: () => T | Promise<T>, options: PollOptions = {}): Promise<Exclude<T, NotYet> | false> {
  const deadline = Date.now() + (options.deadlineMs ?? 30_000);
  for (;;) {
    const value = await probe();
    if (value !== false && value !== null && value !== undefined) return value as Exclude<T, NotYet>;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, options.everyMs ?? 25));
  }
}

/** Like pollUntil, but a deadline passed is a failure: `never happened: <what>`. */
export async function eventually<T>(what: string, probe: () => T | Promise<T>, options: PollOptions = {}): Promise<Exclude<T, NotYet>> {
  const value = await pollUntil(probe, options);
  if (value === false) throw new Error(`never happened: ${what}`);
  return value;
}
