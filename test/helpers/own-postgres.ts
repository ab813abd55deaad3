import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Where Debian's PostgreSQL 15 puts initdb and pg_ctl (overridable, for another layout). */
export const POSTGRES_BIN = process.env.TMI_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of the test's own (initdb + pg_ctl) on its own port below 32768, so a
 * fault test can stop and restart it without touching the machine's shared 5432. As root the
 * cluster is run as the `postgres` user (initdb refuses root).
 */
export interface OwnPostgres {
  port: number;
  /** The cluster's `postgres` database (trust authentication). */
  url: string;
  /** Fast shutdown (sessions terminated, as a crash of the server would leave its clients), waiting until it is down. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const port = await freePort();
  const parent = mkdtempSync(join(tmpdir(), 'tmi-own-pg-'));
  const asRoot = userInfo().uid === 0;
  const pgctl = async (...args: string[]) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(POSTGRES_BIN, args[0]!), ...args.slice(1)]] : [join(POSTGRES_BIN, args[0]!), args.slice(1)];
    await run(cmd as string, argv as string[], { timeout: 120_000 });
  };
  const dataDir = join(parent, 'data');
  if (asRoot) {
    chmodSync(parent, 0o755);
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(parent, Number(stdout.trim()), Number(gid.trim()));
  }
  await pgctl('initdb', '-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync');
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${parent} -c fsync=off -c max_connections=100`;
  let running = false;
  const start = async () => {
    if (running) return;
    await pgctl('pg_ctl', '-D', dataDir, '-o', options, '-l', join(parent, 'log'), '-w', '-t', '90', 'start');
    running = true;
  };
  const stop = async () => {
    if (!running) return;
    await pgctl('pg_ctl', '-D', dataDir, '-m', 'fast', '-w', '-t', '90', 'stop');
    running = false;
  };
  // Should the test process end without stopping it, take the cluster along.
  process.once('exit', () => { if (running) try { stopImmediately(asRoot, dataDir); } catch { /* already gone */ } });
  await start();
  return {
    port, url: `postgres://postgres@127.0.0.1:${port}/postgres`, start, stop,
    async destroy() {
      await stop();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

function stopImmediately(asRoot: boolean, dataDir: string): void {
  const pgctl = join(POSTGRES_BIN, 'pg_ctl');
  const argv = ['-D', dataDir, '-m', 'immediate', 'stop'];
  if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', pgctl, ...argv], { stdio: 'ignore' });
  else execFileSync(pgctl, argv, { stdio: 'ignore' });
}
