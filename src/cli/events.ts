import { createReadStream, createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { pino } from 'pino';
import { restoreCommandState } from '../application/command-state.js';
import type { Config } from '../config/schema.js';
import { checkpointSettledEvents } from '../events/checkpoints.js';
import { exportEvents } from '../events/transfer/export.js';
import { importEvents } from '../events/transfer/import.js';
import { verifyChain } from '../events/verify-chain.js';
import { openDatabase, type Database } from '../infra/database.js';
import { startEmbeddedPostgres } from '../infra/embedded-postgres.js';
import { projections } from '../projections/registry.js';
import { resetProjection } from '../projections/runner.js';
import { transferProgress } from './progress.js';

/**
 * Only the database, and logs on stderr: stdout may be the export itself, or a report. (The service's
 * logger writes to stdout, so these verbs do not open the services.)
 */
async function withDatabase(config: Config, fn: (database: Database) => Promise<void>): Promise<void> {
  const log = pino({ level: 'warn' }, pino.destination(2));
  const embedded = config.database.url ? null
    : await startEmbeddedPostgres({ dataDir: config.database.embedded_data_dir, port: config.database.embedded_port, log });
  const database = openDatabase(config.database.url ?? embedded!.url, { max: 2, applicationName: 'tmi-es-transfer' });
  try {
    await fn(database);
  } finally {
    await database.close();
    await embedded?.stop();
  }
}

/** `events export|import` (NDJSON), `events verify|checkpoint` (the hash chain, src/events/chain.ts). */
export function registerEventsCommands(program: Command, config: () => Config): void {
  const group = program.command('events').description('the event store: export and import (NDJSON), verify its hash chain');

  group.command('verify').description('check every event\'s hash link and every checkpoint; exit 1 at the first broken link')
    .action(() => withDatabase(config(), async ({ pool }) => {
      const result = await verifyChain(pool);
      console.log(JSON.stringify(result, null, 2));
      // main.ts exits with a failed command's code once its services are closed.
      if (!result.ok) process.exitCode = 1;
    }));

  group.command('checkpoint').description('seal the settled events not yet covered in checkpoints')
    .action(() => withDatabase(config(), async ({ pool }) => {
      const written = await checkpointSettledEvents(pool);
      console.log(JSON.stringify({ checkpoints_written: written.length, checkpoints: written }, null, 2));
    }));

  group.command('export').description('write every event, in global order, as NDJSON (a header line first)')
    .option('--out <file>', 'write to a file instead of stdout')
    .action((opts: { out?: string }) => withDatabase(config(), async ({ pool }) => {
      const out = opts.out ? createWriteStream(opts.out) : process.stdout;
      await exportEvents(pool, out, transferProgress('export'));
      if (opts.out) {
        out.end();
        await finished(out);
      }
    }));

  group.command('import').description('load an export into an empty, migrated database (`tmi-es migrate` first); the projections then rebuild')
    .option('--in <file>', 'read from a file instead of stdin')
    .action((opts: { in?: string }) => withDatabase(config(), async (database) => {
      const input = opts.in ? createReadStream(opts.in) : process.stdin;
      const result = await importEvents(database.pool, input, {
        progress: transferProgress('import'),
        afterInsert: async (client) => {
          await restoreCommandState(client);
          // Checkpoints of a service that ran on the empty store sit at its horizon, beyond imported positions.
          for (const p of projections) await resetProjection(client, p);
        },
      });
      process.stderr.write(`imported ${result.events} events, head position ${result.head_position}, position offset ${result.xid_offset}\n`);
    }));
}
