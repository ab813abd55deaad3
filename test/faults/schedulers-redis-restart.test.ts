import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAIN_CHECKPOINT_QUEUE } from '../../src/events/checkpoint-jobs.js';
import { PROJECTION_QUEUE } from '../../src/projections/signals.js';
import { RETENTION_QUEUE, RETENTION_SCHEDULER } from '../../src/retention/runtime.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { needsRedisServer } from '../helpers/binaries.js';
import { eventually } from '../helpers/eventually.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';

const redisServer = needsRedisServer();
const SCHEDULERS = [[PROJECTION_QUEUE, 'projections-safety-net'], [RETENTION_QUEUE, RETENTION_SCHEDULER], [CHAIN_CHECKPOINT_QUEUE, 'event-chain-checkpoints']] as const;

/**
 * The service's job schedulers (the projections' safety net, retention, chain checkpoints) live
 * in Redis. A Redis restarted without persistence comes back empty: without them nothing would
 * ever wake a projection whose wake-ups were lost in the outage, nor sweep, nor checkpoint.
 */
describe.skipIf(redisServer.skip)(redisServer.title('job schedulers after Redis restarts empty'), () => {
  let redis: OwnRedis;
  let app: TestApp;
  beforeAll(async () => {
    redis = await startOwnRedis();
    app = await startTestApp({ overrides: { redis: { url: redis.url } } });
  });
  afterAll(async () => {
    await redis?.start().catch(() => {});
    await app?.stop();
    await redis?.stop();
  });

  const present = async () => {
    const found: string[] = [];
    for (const [queue, id] of SCHEDULERS) if (await app.runtime.services.queues.queue(queue).getJobScheduler(id)) found.push(id);
    return found;
  };

  it('are put back once the connection is ready again', async () => {
    expect(await present()).toEqual(SCHEDULERS.map(([, id]) => id));
    await redis.stop();
    await redis.start();
    // The restarted Redis holds nothing, so whatever is there now was put back by the service.
    await eventually('every scheduler is back', async () => (await present().catch(() => [])).length === SCHEDULERS.length, { deadlineMs: 30_000 });
  });
});
