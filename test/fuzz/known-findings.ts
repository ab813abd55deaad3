/**
 * What the whole-API fuzzer found the service doing against the contract or its own documented
 * behaviour, reported for a fix in the service (not the fuzzer's to decide). Each is skipped by
 * name for its operation and its one violation or invariant, so every other check of the same
 * call still runs; a fixed finding is deleted here, and the fuzzer then holds the service to it.
 */
export interface KnownFinding { finding: string; operation: RegExp; violation: RegExp }

/** Requests the contract's request schemas refuse and the service accepts: none open (F1–F7 are fixed). */
export const KNOWN_FINDINGS: KnownFinding[] = [];

/** The violations no known finding explains, for the fuzzer to judge. */
export function unexplained(operation: string, violations: string[]): string[] {
  const known = KNOWN_FINDINGS.filter((f) => f.operation.test(operation));
  return violations.filter((v) => !known.some((f) => f.violation.test(v)));
}

/**
 * Writes that keep no replay for an Idempotency-Key, as the README documents ("Idempotency-Key":
 * only the threat-model commands, `/threat_models` and below, replay). They still refuse an
 * ill-formed key, which the fuzzer checks everywhere.
 */
const KEEPS_NO_REPLAY = /^(?!\w+ \/threat_models)/;

export const keepsNoReplay = (operation: string): boolean => KEEPS_NO_REPLAY.test(operation);
