import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { ProjectionRunner } from '../projections/runner.js';
import { projectionNamed, projections } from '../projections/registry.js';
import { listDeadLetters, projectionStatuses } from '../projections/status.js';
import { projectionDigests } from '../projections/table-digest.js';
import { registerRebuildCommands } from './rebuild-commands.js';
import { closeServices, createLogger, openServices } from '../runtime.js';
import type { Services } from '../services.js';

export async function withServices<T>(config: Config, fn: (services: Services) => Promise<T>): Promise<T> {
  const { services, embedded } = await openServices(config, createLogger({ ...config, logging: { level: 'warn' } }));
  try {
    return await fn(services);
  } finally {
    await closeServices(services, embedded);
  }
}

/** `projections status`, `projections digest`, `projections dead-letters list|retry|skip`, `projections rebuild|rollback|drop-old`. */
export function registerOperationsCommands(program: Command, config: () => Config): void {
  const group = program.command('projections').description('inspect and operate projections');

  group.command('status').description('position, lag and dead letters of every projection')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => withServices(config(), async (services) => {
      const statuses = await projectionStatuses(services.database.pool, projections);
      if (opts.json) return void console.log(JSON.stringify(statuses, null, 2));
      console.table(statuses.map((s) => ({ ...s, lag_seconds: Number(s.lag_seconds.toFixed(3)) })));
    }));

  group.command('digest').description('row count and SHA-256 of every projection table (equal digests: equal contents)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => withServices(config(), async (services) => {
      const digests = await projectionDigests(services.database.pool, projections);
      if (opts.json) return void console.log(JSON.stringify(digests, null, 2));
      for (const d of digests) console.log(`${d.digest}  ${String(d.rows).padStart(8)}  ${d.table} (${d.projection})`);
    }));
  registerRebuildCommands(group, (fn) => withServices(config(), fn));

  const dead = group.command('dead-letters').description('events a projection could not apply');
  dead.command('list').option('--projection <name>').option('--status <status>', 'pending | resolved | skipped', 'pending')
    .action((opts: { projection?: string; status?: string }) => withServices(config(), async (services) => {
      console.table(await listDeadLetters(services.database.pool, opts));
    }));
  for (const verb of ['retry', 'skip'] as const) {
    dead.command(`${verb} <projection> <id>`).description(verb === 'retry' ? 'apply the event again' : 'give up on the event and move on')
      .action((name: string, id: string) => withServices(config(), async (services) => {
        const runner = new ProjectionRunner(services.database.pool, services.store, services.log);
        const p = projectionNamed(name);
        const result = verb === 'retry' ? await runner.retryDeadLetter(p, Number(id)) : await runner.skipDeadLetter(p, Number(id));
        console.log(JSON.stringify(result));
        // main.ts exits with a failed command's code once its services are closed.
        if (!result.ok) process.exitCode = 1;
      }));
  }
}
