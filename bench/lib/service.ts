import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { createTokenService, principalFromClaims } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config/load.js';
import type { Principal } from '../../src/auth/principal.js';
import { startChild, waitForHttp, type ChildHandle } from './processes.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
// Signs the bench's tokens; the services under test are given it as JWT_SECRET.
const BENCH_JWT_SECRET = `tmi-bench-secret-${randomBytes(16).toString('hex')}`;
const CALLBACK = 'http://127.0.0.1:8079/callback';

/** A free TCP port below 32768 (the ephemeral range starts there). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 32768');
}

export type QueueKind = 'redis' | 'postgres';

export interface ServiceOptions {
  databaseUrl: string;
  /** BullMQ on Redis (REDIS_URL set) or on its PostgreSQL backend (no REDIS_URL). */
  queue: QueueKind;
  /** `inline`: projections run inside `serve`; `worker`: `serve` with TMI_RUN_PROJECTIONS=false plus a `worker` process. */
  topology: 'inline' | 'worker';
  logLevel: string;
  /** More environment for the processes (a setting one bench needs off the default). */
  env?: Record<string, string>;
  /** How many `serve` processes (API instances), each on a port of its own, share the database, Redis and worker (default 1). */
  apiInstances?: number;
}

export interface RunningService {
  /** The first API instance's base URL. */
  url: string;
  /** Every API instance's base URL, `url` first. */
  urls: string[];
  /** The processes whose CPU is the service's: each `serve` (in `urls` order), then the worker when there is one. */
  processes: ChildHandle[];
  /** The environment the processes run with (what their configuration is loaded from; the first instance's port). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/**
 * The real service as it runs in production: `tsx src/cli/main.ts serve` in a process of its
 * own (so the load generator's CPU stays apart), configured only through environment variables.
 * The rate limit is off: it counts per user, and one bench user sends thousands of requests a
 * second, far past any per-user limit; everything else is the default configuration.
 */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const ports: number[] = [];
  while (ports.length < (options.apiInstances ?? 1)) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const urls = ports.map((port) => `http://127.0.0.1:${port}`);
  const url = urls[0]!;
  const prefix = `tb${randomBytes(4).toString('hex')}`;
  const redisUrl = process.env.BENCH_REDIS_URL ?? DEFAULT_REDIS_URL;
  const env: Record<string, string> = {
    TMI_MODE: 'development',
    HOST: '127.0.0.1',
    PORT: String(ports[0]),
    TMI_PUBLIC_URL: url,
    DATABASE_URL: options.databaseUrl,
    REDIS_PREFIX: prefix,
    JWT_SECRET: BENCH_JWT_SECRET,
    LOG_LEVEL: options.logLevel,
    TMI_RATE_LIMIT_ENABLED: 'false',
    TMI_OAUTH_CALLBACK_ALLOWLIST: CALLBACK,
    ...(options.queue === 'redis' ? { REDIS_URL: redisUrl } : {}),
    ...(options.topology === 'worker' ? { TMI_RUN_PROJECTIONS: 'false' } : {}),
    ...options.env,
  };
  const processes: ChildHandle[] = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await p.stop();
    if (options.queue === 'redis') await deleteRedisPrefix(redisUrl, prefix);
  };
  try {
    // One after another: each `serve` applies pending migrations at start, and the first has then
    // done it. All share one public URL, as instances behind a load balancer do.
    for (const [i, port] of ports.entries()) {
      const serve = startChild(i === 0 ? 'serve' : `serve-${i + 1}`, MAIN, ['serve'], { ...env, PORT: String(port) });
      processes.push(serve);
      await waitForHttp(serve, `${urls[i]!}/readyz`);
    }
    if (options.topology === 'worker') {
      // Its operations listener on a port of its own (not the shared default 9464); ready when it answers /readyz.
      let metricsPort = await freePort();
      while (ports.includes(metricsPort)) metricsPort = await freePort();
      const worker = startChild('worker', MAIN, ['worker'], { ...env, PORT: '0', TMI_WORKER_METRICS_PORT: String(metricsPort) });
      processes.push(worker);
      await waitForHttp(worker, `http://127.0.0.1:${metricsPort}/readyz`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, urls, processes, env, stop };
}

/** BullMQ leaves a few keys (the job scheduler, ids) under the run's prefix in the shared Redis. */
async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // Leftover keys are harmless; the run's numbers are not affected.
  } finally {
    redis.disconnect();
  }
}

/**
 * Signs in through the real development-provider flow (authorize → code → token with PKCE),
 * which registers the user as any first login does. Returns the access token.
 */
export async function loginWithDevProvider(baseUrl: string, hint: string): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({
    idp: 'tmi', client_callback: CALLBACK, state: randomBytes(8).toString('hex'), login_hint: hint,
    scope: 'openid profile email', code_challenge: challenge, code_challenge_method: 'S256',
  });
  const authorize = await request(`${baseUrl}/oauth2/authorize?${query}`);
  await authorize.body.dump();
  const location = authorize.headers.location;
  if (authorize.statusCode !== 302 || typeof location !== 'string') throw new Error(`authorize answered ${authorize.statusCode}`);
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error(`authorize redirected without a code: ${location}`);
  const token = await request(`${baseUrl}/oauth2/token?idp=tmi`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK }),
  });
  const body = await token.body.json() as { access_token?: string };
  if (token.statusCode !== 200 || !body.access_token) throw new Error(`token exchange answered ${token.statusCode}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/**
 * A token for the same user with extra identity-provider groups, signed with the secret the
 * service is configured with (the dev provider asserts no groups, and the list bench needs a
 * reader through a group entry).
 */
export function withGroups(service: RunningService, token: string, groups: string[]): { token: string; principal: Principal } {
  const tokens = createTokenService(loadConfig({ env: service.env }));
  const principal = principalFromClaims(tokens.verify(token));
  const issued = tokens.issue({ ...principal, groups: [...new Set([...principal.groups, ...groups])] });
  return { token: issued.token, principal: principalFromClaims(issued.claims) };
}

export interface RunningBare {
  url: string;
  process: ChildHandle;
  stop(): Promise<void>;
}

const BARE = new URL('../bare/server.ts', import.meta.url).pathname;

/** The bare Fastify server (bench/bare/server.ts): the physical limit the service is compared with. */
export async function startBare(options: { databaseUrl: string; logLevel: string; projector?: boolean }): Promise<RunningBare> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = startChild('bare', BARE, [], {
    BARE_DATABASE_URL: options.databaseUrl,
    PORT: String(port),
    LOG_LEVEL: options.logLevel,
    BARE_PROJECTOR: options.projector ? 'true' : 'false',
  });
  try {
    await waitForHttp(child, `${url}/healthz`);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { url, process: child, stop: () => child.stop() };
}
