import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A TypeScript entry point run in a Node.js process of its own, its output kept in a log file. */
export interface ChildHandle {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; removes the log after counting its warnings and errors. */
  stop(graceMs?: number): Promise<void>;
  /** What the log held when the process was stopped (pino levels: warn 40, error 50 and above). */
  logged: { warnings: number; errors: number; first: string | null };
}

function countProblems(logFile: string): ChildHandle['logged'] {
  const out: ChildHandle['logged'] = { warnings: 0, errors: 0, first: null };
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /"level":(\d+)/.exec(line);
    const level = m ? Number(m[1]) : 0;
    if (level >= 50) out.errors++;
    else if (level === 40) out.warnings++;
    if (level >= 40 && out.first === null) out.first = line.slice(0, 300);
  }
  return out;
}

/** "serve: 0 warnings, 0 errors" per process, for a bench's notes. */
export const logSummary = (children: ChildHandle[]): string =>
  children.map((c) => `${c.name} logged ${c.logged.warnings} warnings, ${c.logged.errors} errors${c.logged.first ? ` (first: ${c.logged.first})` : ''}`).join('; ');

const running = new Set<ChildHandle>();
// A bench that throws must not leave servers behind; children also get the terminal's Ctrl-C themselves.
process.on('exit', () => {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Runs `node --import tsx <script> ...args`: one process, so its pid is the one whose CPU we
 * read (the `tsx` command would put a wrapper process in between). The environment is exactly
 * `env` plus PATH, so nothing from the caller's shell (a TMI_CONFIG_FILE, a DATABASE_URL)
 * leaks into what is measured.
 */
export function startChild(name: string, script: string, args: string[], env: Record<string, string>): ChildHandle {
  const logFile = join(tmpdir(), `tmi-bench-${name}-${process.pid}-${Date.now()}.log`);
  const fd = openSync(logFile, 'a');
  // BENCH_NODE_ARGS: flags for every child's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (not allowed in NODE_OPTIONS).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: ChildHandle = {
    name,
    pid: child.pid,
    logFile,
    exited,
    tail(lines = 20) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    // The log goes with a stopped process; a crashed one's stays (its tail was reported).
    async stop(graceMs = 15_000) {
      running.delete(handle);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      handle.logged = countProblems(logFile);
      // BENCH_KEEP_LOGS=1 keeps it, to read what the service logged.
      if (!process.env.BENCH_KEEP_LOGS) rmSync(logFile, { force: true });
    },
    logged: { warnings: 0, errors: 0, first: null },
  };
  running.add(handle);
  void exited.then(() => running.delete(handle));
  return handle;
}

/** Polls `url` until it answers 200; fails early when the process exits. */
export async function waitForHttp(child: ChildHandle, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => { exitCode = code; });
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${child.name} exited (${exitCode}) before it was ready:\n${child.tail()}`);
    try {
      const res = await request(url, { headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${child.name} was not ready at ${url} after ${timeoutMs} ms:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the child's log contains `text` (for processes without an HTTP endpoint). */
export async function waitForLog(child: ChildHandle, text: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => { exitCode = code; });
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${child.name} exited (${exitCode}) before it was ready:\n${child.tail()}`);
    if (readFileSync(child.logFile, 'utf8').includes(text)) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not log ${text} after ${timeoutMs} ms:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
