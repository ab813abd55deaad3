import { isDeepStrictEqual } from 'node:util';

/**
 * Whether a command would change nothing. Compared structurally, not by JSON text: state folded
 * from stored events comes back from jsonb with its object keys reordered, so the same value
 * serializes differently and a no-op replacement would append an event.
 */
export const sameValue = (a: unknown, b: unknown): boolean => isDeepStrictEqual(a, b);
