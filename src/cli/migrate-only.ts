import type { Config } from '../config/schema.js';
import { migrateToLatest } from '../infra/migrate.js';
import { closeServices, createLogger, openServices } from '../runtime.js';

export async function migrateOnly(config: Config): Promise<void> {
  const log = createLogger(config);
  const { services, embedded } = await openServices(config, log);
  try {
    const applied = await migrateToLatest(services.database.db);
    log.info({ applied }, applied.length ? 'migrations applied' : 'database already up to date');
  } finally {
    await closeServices(services, embedded);
  }
}
