import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, type Config } from './schema.js';

/** Thrown when configuration is invalid; the message names every offending key. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

/** Environment variables and the config key each sets; values are parsed by the key's schema type. */
export const ENVIRONMENT_KEYS: Record<string, string> = {
  TMI_MODE: 'mode',
  NODE_ENV: 'mode',
  HOST: 'server.host',
  PORT: 'server.port',
  TMI_WORKER_METRICS_PORT: 'server.worker_metrics_port',
  TMI_PUBLIC_URL: 'server.public_url',
  TMI_SHUTDOWN_TIMEOUT_MS: 'server.shutdown_timeout_ms',
  TMI_BODY_LIMIT_BYTES: 'server.body_limit_bytes',
  TMI_READ_YOUR_WRITES_TIMEOUT_MS: 'server.read_your_writes_timeout_ms',
  TMI_REQUIRE_IF_MATCH: 'server.require_if_match',
  TMI_RUN_PROJECTIONS: 'server.run_projections',
  TMI_CORS_ORIGINS: 'server.cors_origins',
  DATABASE_URL: 'database.url',
  DATABASE_POOL_SIZE: 'database.pool_size',
  TMI_EMBEDDED_PG_PORT: 'database.embedded_port',
  TMI_EMBEDDED_PG_DIR: 'database.embedded_data_dir',
  REDIS_URL: 'redis.url',
  REDIS_PREFIX: 'redis.prefix',
  JWT_SECRET: 'auth.jwt.secret',
  JWT_ALGORITHM: 'auth.jwt.algorithm',
  JWT_PRIVATE_KEY: 'auth.jwt.private_key',
  JWT_PUBLIC_KEY: 'auth.jwt.public_key',
  JWT_EXPIRATION_SECONDS: 'auth.jwt.expiration_seconds',
  TMI_OAUTH_CALLBACK_ALLOWLIST: 'auth.oauth.callback_allowlist',
  TMI_AUTH_COOKIES: 'auth.cookies',
  TMI_RATE_LIMIT_ENABLED: 'rate_limit.enabled',
  TMI_REALTIME_OPERATIONS_PER_SECOND: 'realtime.operations_per_second',
  TMI_RETENTION_ENABLED: 'retention.enabled',
  TMI_RETENTION_INTERVAL_MS: 'retention.interval_ms',
  LOG_LEVEL: 'logging.level',
};

function setPath(target: Json, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Json;
  }
  node[parts[parts.length - 1]!] = value;
}

function fromEnvironment(env: NodeJS.ProcessEnv): Json {
  const out: Json = {};
  for (const [name, key] of Object.entries(ENVIRONMENT_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (name === 'NODE_ENV' && env.TMI_MODE) continue;
    let value: unknown = raw;
    if (key.endsWith('allowlist') || key.endsWith('cors_origins')) value = raw.split(',').map((s) => s.trim()).filter(Boolean);
    setPath(out, key, value);
  }
  return out;
}

function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
      ? deepMerge(b as Json, v as Json)
      : v;
  }
  return out;
}

/** Reads the YAML file (if any), overlays environment variables, applies defaults, and validates. */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Json } = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.TMI_CONFIG_FILE;
  let fromFile: Json = {};
  if (file) {
    try {
      fromFile = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Json;
    } catch (err) {
      throw new ConfigError([`config file ${file}: ${(err as Error).message}`]);
    }
  }
  const merged = deepMerge(deepMerge(fromFile, fromEnvironment(env)), options.overrides ?? {});
  for (const section of ['server', 'database', 'redis', 'auth', 'rate_limit', 'logging', 'limits', 'realtime', 'retention']) {
    if (merged[section] === undefined) merged[section] = {};
  }
  const auth = merged.auth as Json;
  auth.jwt ??= {};
  auth.oauth ??= {};
  // Environment values arrive as strings; Convert turns "8080" into 8080 and "true" into true per the schema.
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, merged));
  const problems = [...Value.Errors(ConfigSchema, converted)].map((e) => `${e.path.slice(1).replaceAll('/', '.') || '(root)'}: ${e.message}`);
  const unknown = unknownKeys(converted as Json, ConfigSchema as unknown as Json, '');
  problems.push(...unknown.map((k) => `${k}: unknown configuration key`));
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  const config = converted as Config;
  // A fresh checkout must be able to sign in: outside production, no providers means the dev provider.
  if (config.mode !== 'production' && config.auth.oauth.providers.length === 0) {
    config.auth.oauth.providers = [{ id: 'tmi', name: 'TMI Development', kind: 'tmi', enabled: true, scopes: ['openid', 'profile', 'email'] }];
  }
  if (config.mode === 'production' && config.auth.oauth.providers.some((p) => p.kind === 'tmi' && p.enabled)) {
    throw new ConfigError(['auth.oauth.providers: the tmi development provider cannot be enabled in production mode']);
  }
  if (config.mode === 'production' && config.auth.jwt.algorithm === 'HS256' && config.auth.jwt.secret.startsWith('development-only')) {
    throw new ConfigError(['auth.jwt.secret: set a real secret in production mode']);
  }
  return config;
}

function unknownKeys(value: Json, schema: Json, prefix: string): string[] {
  const props = schema.properties as Record<string, Json> | undefined;
  if (!props || typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const sub = props[k];
    const path = prefix ? `${prefix}.${k}` : k;
    if (!sub) out.push(path);
    else out.push(...unknownKeys(v as Json, sub, path));
  }
  return out;
}
