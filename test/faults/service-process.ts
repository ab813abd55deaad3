import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig } from '../../src/config/load.js';
import { createTokenService } from '../../src/auth/tokens.js';
import { requestTo, type TestRequestInit } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';

/**
 * The service as a real process (`node --import tsx src/cli/main.ts <role>`), configured by
 * environment variables only, as an operator would run it; its output is kept for assertions
 * and for the failure message.
 */
export interface ServiceProcess {
  role: 'serve' | 'worker';
  /** The API (`serve`) or the operations listener (`worker`). */
  url: string;
  child: ChildProcess;
  /** stdout and stderr so far (JSON log lines at LOG_LEVEL info). */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** A bearer token the process accepts (same secret and issuer). */
  token(name: string): string;
  /** fetch against `url`, as TestApp.request. */
  request(path: string, init?: TestRequestInit): Promise<Response>;
}

export interface ServiceEnv {
  databaseUrl: string;
  /** Omitted: BullMQ on PostgreSQL. */
  redisUrl?: string;
  redisPrefix: string;
  extra?: Record<string, string>;
}

export async function spawnService(role: 'serve' | 'worker', env: ServiceEnv): Promise<ServiceProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const vars: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: process.env.HOME,
    TMI_MODE: 'test', HOST: '127.0.0.1', PORT: String(port), TMI_PUBLIC_URL: url,
    // A worker's operations listener (/metrics, /healthz, /readyz) takes the port, not the shared default.
    ...(role === 'worker' ? { TMI_WORKER_METRICS_PORT: String(port) } : {}),
    DATABASE_URL: env.databaseUrl, REDIS_PREFIX: env.redisPrefix, LOG_LEVEL: 'info',
    TMI_RETENTION_ENABLED: 'false',
    ...(env.redisUrl ? { REDIS_URL: env.redisUrl } : {}),
    ...env.extra,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', role], { env: vars, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => { output += d; });
  child.stderr!.on('data', (d) => { output += d; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // A test that fails before stopping it must not leave it running.
  process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const tokens = createTokenService(loadConfig({ env: {}, overrides: { mode: 'test', server: { public_url: url } } }));
  const service: ServiceProcess = {
    role, url, child, exited,
    output: () => output,
    request: (path, init) => requestTo(url, path, init),
    token(name) {
      const hex = Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12);
      return tokens.issue({
        user_id: `00000000-0000-4000-8000-${hex}`, provider: 'tmi', provider_id: `${name}@tmi.local`, email: `${name}@tmi.local`,
        email_verified: true, name, groups: [], is_admin: false, is_security_reviewer: false,
      }).token;
    },
  };
  await startedOrExited(service);
  return service;
}

/** Waits for the process's `started` log line; a process that exits first fails with its output. */
async function startedOrExited(service: ServiceProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!service.output().includes('"msg":"started"')) {
    if (service.child.exitCode !== null) throw new Error(`${service.role} exited with ${service.child.exitCode}:\n${service.output()}`);
    if (Date.now() > deadline) throw new Error(`${service.role} did not start:\n${service.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends SIGTERM (or another signal) and resolves with the exit code. */
export async function signal(service: ServiceProcess, name: NodeJS.Signals): Promise<number | null> {
  if (service.child.exitCode === null) service.child.kill(name);
  return service.exited;
}
