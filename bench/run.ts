import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { BenchUsageError, type BenchOptions, type BenchReport } from './lib/report.js';
import { formatMarkdownTable, formatTable } from './lib/table.js';

type Bench = { run(options: BenchOptions): Promise<BenchReport> };

// Benches load lazily so one bench's dependencies never slow or break another.
const BENCHES: Record<string, () => Promise<Bench>> = {
  append: () => import('./append.js'),
  'append-cpu': () => import('./append-cpu.js'),
  command: () => import('./command.js'),
  lag: () => import('./lag.js'),
  queries: () => import('./queries.js'),
  realtime: () => import('./realtime.js'),
  rebuild: () => import('./rebuild.js'),
  scaling: () => import('./scaling.js'),
};

const USAGE = `usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--seconds N] [--warmup N] [--slices N] [--writers 1,8,32] [--only name,...]
       [--rates 300,...] [--connections 8,32] [--log-level info] [--models 100000] [--readable 1000]
       [--threats 10000] [--children 200] [--reseed] [--topology inline|worker] [--events 1000000] [--per-event] [--parallel 2]
  --seconds/--warmup: measured and warm-up seconds per cell and system, cut into --slices turns
  --writers: append benches' concurrent writers
  --only: append: workloads; command: ryw,async; lag: inline/redis,worker/redis,inline/postgres,worker/postgres; queries: list,bare-list,get,threats,bare-threats,full
  --rates: command: read-your-writes rates (300); lag: offered events/s (500,100); queries: the open-loop ladder (100,200,400,800,1600,3200,6400); realtime: operations/s (50)
  --connections: closed-loop connections (command: 8,32,64; queries: 8,32; scaling: 32, in all over the instances); realtime: the clients on the diagram (100)
  --log-level: the servers' log level (info, the service's default, logs every request)
  --models/--readable/--threats/--children/--reseed: queries: seed size, and rebuilding the cached seeded database
  --topology: command, queries: projections inside serve (inline, the default) or in a separate worker
  --events: rebuild: events generated before rebuilding every projection
  --per-event: rebuild: apply every event one by one (no bulk phase), as before it existed
  --parallel: rebuild: projections written, indexed, verified and swapped at once after the one shared read (2)`;

function parseOptions(argv: string[]): { name: string; options: BenchOptions } {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      slices: { type: 'string', default: '3' },
      writers: { type: 'string', default: '1,8,32' },
      only: { type: 'string' },
      rates: { type: 'string' },
      connections: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      models: { type: 'string', default: '100000' },
      readable: { type: 'string', default: '1000' },
      threats: { type: 'string', default: '10000' },
      children: { type: 'string', default: '200' },
      reseed: { type: 'boolean', default: false },
      topology: { type: 'string', default: 'inline' },
      events: { type: 'string', default: '1000000' },
      'per-event': { type: 'boolean', default: false },
      parallel: { type: 'string', default: '2' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const name = positionals[0];
  if (values.help || !name || !(name in BENCHES)) throw new Error(USAGE);
  const positive = (raw: string, flag: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number, got ${raw}\n${USAGE}`);
    return n;
  };
  const wholeList = (raw: string, flag: string): number[] => {
    const list = raw.split(',').map((w) => positive(w.trim(), flag));
    if (list.some((w) => !Number.isInteger(w))) throw new Error(`--${flag} takes whole numbers\n${USAGE}`);
    return list;
  };
  const writers = wholeList(values.writers, 'writers');
  const whole = (raw: string, flag: string): number => wholeList(raw, flag)[0]!;
  const models = whole(values.models, 'models');
  const readable = whole(values.readable, 'readable');
  if (readable > models) throw new Error(`--readable cannot exceed --models\n${USAGE}`);
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(values['log-level'])) throw new Error(`--log-level is one of ${levels.join(', ')}\n${USAGE}`);
  const slices = positive(values.slices, 'slices');
  if (!Number.isInteger(slices)) throw new Error(`--slices takes a whole number\n${USAGE}`);
  if (values.topology !== 'inline' && values.topology !== 'worker') throw new Error(`--topology is inline or worker\n${USAGE}`);
  const warmupSeconds = Number(values.warmup);
  if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0) throw new Error(`--warmup must be 0 or more\n${USAGE}`);
  return {
    name,
    options: {
      seconds: positive(values.seconds, 'seconds'),
      warmupSeconds,
      slices,
      writers,
      only: values.only ? values.only.split(',').map((s) => s.trim()) : null,
      rates: values.rates ? values.rates.split(',').map((r) => positive(r.trim(), 'rates')) : null,
      connections: values.connections ? wholeList(values.connections, 'connections') : null,
      reseed: values.reseed,
      logLevel: values['log-level'],
      models,
      readable,
      threats: whole(values.threats, 'threats'),
      children: whole(values.children, 'children'),
      topology: values.topology,
      events: whole(values.events, 'events'),
      perEvent: values['per-event'],
      parallel: whole(values.parallel, 'parallel'),
      log: (line) => process.stderr.write(`${line}\n`),
    },
  };
}

function print(report: BenchReport): void {
  const out: string[] = [];
  for (const table of report.tables) out.push(table.title, '', formatTable(table.headers, table.rows), '');
  if (report.verdicts.length > 0) {
    out.push('Bars (DESIGN §7)');
    for (const v of report.verdicts) out.push(`  ${v.pass ? 'PASS' : 'FAIL'}  ${v.bar}: ${v.measured}`);
    out.push('');
  }
  for (const note of report.notes) out.push(`note: ${note}`);
  out.push(`environment: ${JSON.stringify(report.environment)}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function toMarkdown(report: BenchReport): string {
  const out: string[] = [];
  for (const table of report.tables) out.push(formatMarkdownTable(table.headers, table.rows), '');
  for (const v of report.verdicts) out.push(`- **${v.pass ? 'PASS' : 'FAIL'}** ${v.bar}: ${v.measured}`);
  return out.join('\n');
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const bench = await BENCHES[parsed.name]!();
  let report: BenchReport;
  try {
    report = await bench.run(parsed.options);
  } catch (err) {
    // Bad options surface as plain messages; anything else keeps its stack.
    if (err instanceof BenchUsageError || (err instanceof Error && /^unknown workload/.test(err.message))) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    throw err;
  }
  print(report);
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL(`${report.name}-${report.started_at.replaceAll(':', '-')}.json`, dir);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  // A markdown copy of the tables and verdicts, ready for docs/performance.md.
  const markdown = new URL(file.pathname.replace(/\.json$/, '.md'), file);
  await writeFile(markdown, `${toMarkdown(report)}\n`);
  process.stderr.write(`JSON copy: ${file.pathname}\nmarkdown copy: ${markdown.pathname}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
