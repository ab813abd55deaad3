import type { Services } from './services.js';

/** Long-running work besides HTTP: projection workers, the event chain's checkpoints and the retention sweep, with their schedulers. */
export interface BackgroundWork {
  stop(): Promise<void>;
}

export async function startBackgroundWork(services: Services): Promise<BackgroundWork> {
  const { startProjections } = await import('./projections/runtime.js');
  const { startRetention } = await import('./retention/runtime.js');
  const { startChainCheckpoints } = await import('./events/checkpoint-jobs.js');
  const projections = await startProjections(services);
  const retention = await startRetention(services);
  const checkpoints = await startChainCheckpoints(services);
  return {
    async stop() {
      await Promise.all([retention.stop(), checkpoints.stop()]);
      await projections.stop();
    },
  };
}
