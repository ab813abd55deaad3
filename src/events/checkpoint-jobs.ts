import type { Services } from '../services.js';
import { checkpointSettledEvents } from './checkpoints.js';

export const CHAIN_CHECKPOINT_QUEUE = 'event-chain';
const CHECKPOINT_JOB = 'checkpoint';

export interface RunningCheckpoints {
  stop(): Promise<void>;
}

/**
 * Seals the settled events in chain checkpoints every `server.chain_checkpoint_ms`, on a BullMQ
 * job scheduler: one job per period however many workers run, and the advisory lock in
 * writeCheckpoint keeps a manual `tmi-es events checkpoint` from racing it.
 */
export async function startChainCheckpoints(services: Services): Promise<RunningCheckpoints> {
  const log = services.log.child({ component: 'event-chain' });
  const worker = services.queues.worker(CHAIN_CHECKPOINT_QUEUE, async () => {
    const written = await checkpointSettledEvents(services.database.pool);
    if (written.length > 0) {
      log.debug({ checkpoints: written.length, through_position: written[written.length - 1]!.through_position }, 'event chain checkpointed');
    }
  }, { concurrency: 1 });
  worker.on('failed', (job, err) => log.warn({ err, job: job?.name }, 'event chain checkpoint failed; the next period tries again'));
  await services.queues.schedule(CHAIN_CHECKPOINT_QUEUE, 'event-chain-checkpoints', { every: services.config.server.chain_checkpoint_ms }, {
    name: CHECKPOINT_JOB,
    opts: { removeOnComplete: true, removeOnFail: 100 },
  });
  return { stop: () => worker.close() };
}
