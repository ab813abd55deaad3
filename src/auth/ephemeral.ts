import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { guardRedis } from '../infra/redis-errors.js';

/**
 * Short-lived auth state that must be shared by every instance: OAuth states, code bindings,
 * lockout counters, deletion challenges. Redis when configured, PostgreSQL otherwise. (Revoked
 * access tokens are not kept here: see revocations.ts.)
 */
export interface EphemeralStore {
  /** Stores the value unless the key exists; false when it did. */
  putNew(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  get(key: string): Promise<string | null>;
  /** True when any of the keys holds a live value (one round trip). */
  anyExists(keys: string[]): Promise<boolean>;
  /** Reads and deletes in one step, so a value can be consumed once. */
  take(key: string): Promise<string | null>;
  /** Adds one to a counter that expires `ttlSeconds` after its first increment; returns the count. */
  increment(key: string, ttlSeconds: number): Promise<number>;
  /** Seconds until the key expires; 0 when absent. */
  ttl(key: string): Promise<number>;
  delete(key: string): Promise<void>;
}

/** Every call is guarded: with Redis out of reach it fails with a RedisUnavailableError, never an error that reads as the database's. */
export function redisEphemeralStore(redis: Redis, prefix: string): EphemeralStore {
  const k = (key: string) => `${prefix}:auth:${key}`;
  return {
    putNew: (key, value, ttl) => guardRedis(async () => (await redis.set(k(key), value, 'EX', ttl, 'NX')) === 'OK'),
    put: (key, value, ttl) => guardRedis(async () => { await redis.set(k(key), value, 'EX', ttl); }),
    get: (key) => guardRedis(() => redis.get(k(key))),
    anyExists: (keys) => guardRedis(async () => (await redis.exists(...keys.map(k))) > 0),
    take: (key) => guardRedis(() => redis.getdel(k(key))),
    increment: (key, ttl) => guardRedis(async () => {
      // SET NX starts the window once; INCR never touches the expiry (works on any Redis version).
      const results = (await redis.multi().set(k(key), '0', 'EX', ttl, 'NX').incr(k(key)).exec()) as [Error | null, unknown][];
      // A transaction reports its commands' errors (an OOM reply) as results, not by throwing: a count that failed is no count.
      const failed = results.find(([err]) => err !== null);
      if (failed) throw failed[0];
      return Number(results[1]![1]);
    }),
    ttl: (key) => guardRedis(async () => Math.max(0, await redis.ttl(k(key)))),
    delete: (key) => guardRedis(async () => { await redis.del(k(key)); }),
  };
}

/** Expired rows are ignored by every read; the retention sweep (src/retention/ephemeral.ts) removes them in bounded batches. */
export function postgresEphemeralStore(pool: Pool): EphemeralStore {
  return {
    async putNew(key, value, ttl) {
      const { rowCount } = await pool.query(
        `insert into auth_ephemeral (key, value, expires_at) values ($1, $2, now() + make_interval(secs => $3))
         on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at where auth_ephemeral.expires_at < now()`,
        [key, value, ttl]);
      return rowCount === 1;
    },
    async put(key, value, ttl) {
      await pool.query(
        `insert into auth_ephemeral (key, value, expires_at) values ($1, $2, now() + make_interval(secs => $3))
         on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at`, [key, value, ttl]);
    },
    async get(key) {
      const { rows } = await pool.query<{ value: string }>('select value from auth_ephemeral where key = $1 and expires_at > now()', [key]);
      return rows[0]?.value ?? null;
    },
    async anyExists(keys) {
      const { rows } = await pool.query('select 1 from auth_ephemeral where key = any($1) and expires_at > now() limit 1', [keys]);
      return rows.length > 0;
    },
    async take(key) {
      const { rows } = await pool.query<{ value: string; live: boolean }>('delete from auth_ephemeral where key = $1 returning value, expires_at > now() as live', [key]);
      return rows[0]?.live ? rows[0].value : null;
    },
    async increment(key, ttl) {
      const { rows } = await pool.query<{ value: string }>(
        `insert into auth_ephemeral (key, value, expires_at) values ($1, '1', now() + make_interval(secs => $2))
         on conflict (key) do update set
           value = case when auth_ephemeral.expires_at < now() then '1' else (auth_ephemeral.value::int + 1)::text end,
           expires_at = case when auth_ephemeral.expires_at < now() then excluded.expires_at else auth_ephemeral.expires_at end
         returning value`, [key, ttl]);
      return Number(rows[0]!.value);
    },
    async ttl(key) {
      const { rows } = await pool.query<{ s: number }>('select ceil(extract(epoch from expires_at - now()))::int as s from auth_ephemeral where key = $1 and expires_at > now()', [key]);
      return rows[0]?.s ?? 0;
    },
    async delete(key) {
      await pool.query('delete from auth_ephemeral where key = $1', [key]);
    },
  };
}
