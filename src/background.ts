import type { Services } from './services.js';

/** Long-running work besides HTTP: projection workers and their schedulers, and the retention sweep. */
export interface BackgroundWork {
  stop(): Promise<void>;
}

export async function startBackgroundWork(services: Services): Promise<BackgroundWork> {
  const { startProjections } = await import('./projections/runtime.js');
  const { startRetention } = await import('./retention/runtime.js');
  const projections = await startProjections(services);
  const retention = await startRetention(services);
  return {
    async stop() {
      await retention.stop();
      await projections.stop();
    },
  };
}
