// PostgreSQL text cannot hold U+0000, and jsonb also refuses an unpaired surrogate; JSON allows
// both as escapes, so input carrying them must be stopped (or mended) before it reaches a query or an event.
const UNSTORABLE = /[\0\p{Cs}]/u;
const UNSTORABLE_ALL = /[\0\p{Cs}]/gu;

export const isStorableText = (s: string): boolean => !UNSTORABLE.test(s);

/** Replaces what PostgreSQL cannot store with U+FFFD. */
export const mendText = (s: string): string => s.replace(UNSTORABLE_ALL, '\uFFFD');
