import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { freePort } from './ports.js';

export interface TestApp {
  url: string;
  runtime: Runtime;
  config: Config;
  database: TestDatabase;
  /** fetch against the app, with JSON helpers. */
  request(path: string, init?: TestRequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** fetch's options, and a JSON body and a bearer token to send. */
export type TestRequestInit = RequestInit & { json?: unknown; token?: string };

/** fetch against a service at `url`: the token as a bearer, `json` sent as the JSON body. */
export function requestTo(url: string, path: string, init: TestRequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  return fetch(url + path, { ...init, headers, body });
}

type Overrides = Record<string, unknown>;

function merge(a: Overrides, b: Overrides): Overrides {
  const out: Overrides = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' ? merge(out[k] as Overrides, v as Overrides) : v;
  }
  return out;
}

/**
 * Starts the real service (HTTP, projections through BullMQ) on its own database, its own
 * BullMQ prefix and a free port below 32768. `redis: false` runs BullMQ on PostgreSQL.
 * `role: 'worker'` listens on that port only for its operations routes.
 */
export async function startTestApp(options: { overrides?: Overrides; redis?: boolean; database?: TestDatabase; role?: 'serve' | 'worker' } = {}): Promise<TestApp> {
  const database = options.database ?? await createTestDatabase();
  const port = await freePort();
  const base: Overrides = {
    mode: 'test',
    // A worker answers its operations routes (/metrics, /healthz, /readyz) on the port the API would use.
    server: { host: '127.0.0.1', port, public_url: `http://127.0.0.1:${port}`, ...(options.role === 'worker' ? { worker_metrics_port: port } : {}) },
    database: { url: database.url, pool_size: 10 },
    redis: { prefix: `t${randomBytes(4).toString('hex')}`, ...(options.redis === false ? {} : { url: inject('redisUrl') }) },
    logging: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
  };
  const config = loadConfig({ env: {}, overrides: merge(base, options.overrides ?? {}) });
  const runtime = await startRuntime(config, options.role ?? 'serve');
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    runtime,
    config,
    database,
    request: (path, init) => requestTo(url, path, init),
    async stop() {
      await runtime.stop();
      if (!options.database) await database.drop();
    },
  };
}

/** Response body as JSON, typed loosely for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const json = async (res: Response): Promise<any> => res.json();
