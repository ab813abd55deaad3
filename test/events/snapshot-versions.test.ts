import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CREDENTIAL_STATE_VERSION } from '../../src/commands/tokens/client-credential.js';
import { USER_STATE_VERSION } from '../../src/commands/users/state.js';
import { DIAGRAM_STATE_VERSION } from '../../src/commands/diagrams/index.js';

/**
 * A tripwire for snapshot invalidation. Snapshots are keyed by each fold's state version, so a
 * change to a state's shape or to its evolve that keeps the version would let snapshots taken
 * by the old code be folded on as if the new code had made them. This pins the source of every
 * snapshotted fold (comments and whitespace aside) to its version.
 *
 * When it fails: if the change alters what the fold produces (a field added, removed or
 * computed differently), bump the state version; either way, record the new fingerprint here.
 */
const folds = [
  { file: 'src/commands/users/state.ts', name: 'USER_STATE_VERSION', version: USER_STATE_VERSION, pinned: { version: 1, fingerprint: 'd900ebb977918ae0' } },
  { file: 'src/commands/tokens/client-credential.ts', name: 'CREDENTIAL_STATE_VERSION', version: CREDENTIAL_STATE_VERSION, pinned: { version: 1, fingerprint: '1b5c9b1dec75006d' } },
  // A diagram's fold is the shared child evolver, its cell operations and its fields.
  { file: 'src/commands/child-resources/state.ts', name: 'DIAGRAM_STATE_VERSION', version: DIAGRAM_STATE_VERSION, pinned: { version: 1, fingerprint: '668643fb6be0f3b8' } },
  { file: 'src/commands/diagrams/operations.ts', name: 'DIAGRAM_STATE_VERSION', version: DIAGRAM_STATE_VERSION, pinned: { version: 1, fingerprint: '3aa9e826cdacc534' } },
  { file: 'src/commands/diagrams/index.ts', name: 'DIAGRAM_STATE_VERSION', version: DIAGRAM_STATE_VERSION, pinned: { version: 1, fingerprint: '0f10bf7e159341f7' } },
];

const fingerprint = (file: string): string => {
  const code = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '').replace(/\s+/g, '');
  return createHash('sha256').update(code).digest('hex').slice(0, 16);
};

describe('snapshotted folds and their state versions', () => {
  for (const fold of folds) {
    it(`${fold.file} is the fold ${fold.name} = ${fold.pinned.version} was pinned for`, () => {
      const now = { version: fold.version, fingerprint: fingerprint(fold.file) };
      expect(now, `${fold.file} changed: if its state or evolve means something new, bump ${fold.name}; then pin the new fingerprint in this test`).toEqual(fold.pinned);
    });
  }
});
