import type { Command } from 'commander';
import { projectionNamed, projections } from '../projections/registry.js';
import {
  dropRetired, LocksBusyError, NothingToRollBackError, RebuildBusyError, RebuildRefusedError, RebuildSupersededError, rollbackProjection, ShadowOutdatedError,
} from '../projections/rebuild.js';
import { rebuildTogether, type TogetherOptions, type TogetherOutcome } from '../projections/rebuild-together.js';
import { shadowSchemaOf, ShadowUnsupportedError } from '../projections/shadow-schema.js';
import type { Services } from '../services.js';
import { progressBar } from './progress-bar.js';

type WithServices = (fn: (services: Services) => Promise<void>) => Promise<void>;

/** A bad option of a rebuild verb. */
class RebuildCliError extends Error {}

/** Refusals an operator acts on: one line on stderr and exit code 1, not a stack trace. */
const REFUSALS = [RebuildCliError, NothingToRollBackError, RebuildBusyError, RebuildSupersededError, ShadowUnsupportedError, LocksBusyError, ShadowOutdatedError];

async function refusing(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!REFUSALS.some((e) => err instanceof e)) throw err;
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

/** `--batch-size`: a positive whole number, refused with a clear message otherwise (it went to SQL as it was). */
function batchSizeOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new RebuildCliError(`--batch-size must be a positive whole number, not ${raw}`);
  return n;
}

/** `projections rebuild [name]`, `projections rollback <name>`, `projections drop-old <name>` (docs/architecture.md, "Rebuilds"). */
export function registerRebuildCommands(group: Command, withServices: WithServices): void {
  group.command('rebuild [name]')
    .description('build a projection (all when no name) anew beside the live one, verify it and swap it in; the old version is kept for rollback')
    .option('--fresh', 'drop a shadow an earlier interrupted or refused rebuild left, instead of resuming it')
    .option('--batch-size <n>', 'events per shadow transaction')
    .option('--one-at-a-time', 'rebuild the projections one after another, each with its own read of the store: slower, but only one projection\'s rows are held in memory at once')
    .action((name: string | undefined, opts: { fresh?: boolean; batchSize?: string; oneAtATime?: boolean }) => withServices((services) => refusing(async () => {
      const bar = progressBar();
      const targets = name ? [projectionNamed(name)] : projections;
      const options: TogetherOptions = {
        fresh: opts.fresh === true,
        batchSize: batchSizeOf(opts.batchSize),
        onProgress: (x) => bar.update(x.projection, x.applied, x.total),
      };
      const rebuild = (some: typeof targets) => rebuildTogether(services.database.pool, services.store, some, options);
      const outcomes: TogetherOutcome[] = [];
      // One at a time: each projection's own read, so only its rows are in memory at once.
      for (const some of opts.oneAtATime ? targets.map((p) => [p]) : [targets]) outcomes.push(...await rebuild(some));
      let unexpected: Error | undefined;
      for (const o of outcomes) {
        if (!('error' in o)) {
          bar.done(`${o.projection}: v${o.swap.version} swapped in at position ${o.swap.position} (${o.swap.applied_in_swap} events in the swap; ` +
            `${o.report.compared ? 'matched the live version' : 'live version differs, not compared'}; after ${o.seconds.toFixed(1)}s); old version kept in ${o.swap.retired}`);
        } else if (o.error instanceof RebuildRefusedError) {
          bar.done(`${o.projection}: refused, nothing swapped; the shadow is kept in ${shadowSchemaOf(o.projection, projectionNamed(o.projection).version)} (rebuild --fresh starts over)`);
          console.log(JSON.stringify(o.error.report, null, 2));
          process.exitCode = 1;
        } else if (REFUSALS.some((e) => o.error instanceof e)) {
          bar.done(`${o.projection}: ${o.error.message}`);
          process.exitCode = 1;
        } else {
          bar.done(`${o.projection}: failed: ${o.error.message}`);
          unexpected ??= o.error;
        }
      }
      if (unexpected) throw unexpected;
    })));
  group.command('rollback <name>').description('put the version a rebuild retired back in place (the current one is retired instead)')
    .action((name: string) => withServices((services) => refusing(async () => {
      projectionNamed(name);
      console.log(JSON.stringify(await rollbackProjection(services.database.pool, name)));
    })));
  group.command('drop-old <name>').description('drop the version a rebuild retired (no rollback after this)')
    .action((name: string) => withServices((services) => refusing(async () => {
      projectionNamed(name);
      console.log(JSON.stringify({ projection: name, dropped: await dropRetired(services.database.pool, name) }));
    })));
}
