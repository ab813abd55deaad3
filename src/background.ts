import type { Services } from './services.js';

/** Long-running work besides HTTP: projection workers and their schedulers. */
export interface BackgroundWork {
  stop(): Promise<void>;
}

export async function startBackgroundWork(services: Services): Promise<BackgroundWork> {
  const { startProjections } = await import('./projections/runtime.js');
  const projections = await startProjections(services);
  return {
    async stop() {
      await projections.stop();
    },
  };
}
