import pg from 'pg';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ProjectionProgress } from '../../src/projections/signals.js';
import { freePort } from '../helpers/ports.js';

describe('ProjectionProgress.waitFor when PostgreSQL cannot be reached', () => {
  const pools: pg.Pool[] = [];
  afterAll(async () => { for (const p of pools) await p.end().catch(() => {}); });

  it('answers "not yet" instead of failing: the command it waits for has already committed', async () => {
    // A port nobody listens on: every checkpoint read fails to connect, as during a database blip after a commit.
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`;
    const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: 500 });
    pool.on('error', () => {});
    pools.push(pool);
    const progress = new ProjectionProgress(pool, url, pino({ level: 'silent' }));
    try {
      await expect(progress.waitFor(['threat_models'], 42, 300)).resolves.toBe(false);
    } finally {
      await progress.close();
    }
  });
});
