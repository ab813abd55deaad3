import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { Caller } from '../../src/commands/caller.js';
import { callerSubjectKeys } from '../../src/commands/threat-models/authorization.js';
import { decide, type ThreatModelInput } from '../../src/commands/threat-models/decide.js';
import { THREAT_MODEL_STREAM_TYPE, threatModelStreamId } from '../../src/commands/threat-models/events.js';
import { initialState } from '../../src/commands/threat-models/state.js';
import type { Authorization } from '../../src/commands/threat-models/values.js';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import type { StreamAppend } from '../../src/events/types.js';
import { openDatabase } from '../../src/infra/database.js';
import { MIGRATIONS_DIR } from '../../src/infra/migrate.js';
import { projections } from '../../src/projections/registry.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { seedChildren, type ChildSeedParameters } from './children-seed.js';

/** Bump when the seed's shape changes, so cached databases of the old shape are not reused. */
// 2: children (a threat model with `threats` threats, one with `children` of every kind).
const SEED_VERSION = 2;
const OWNERS = 1000;
const STREAMS_PER_APPEND = 1000;

export interface SeedParameters extends ChildSeedParameters {
  models: number;
  readable: number;
}

/** The two threat models the children were written under, both owned by the bench reader. */
export interface ChildTargets { threats: string; full: string }

/** The user the list is measured for (dev-provider login hint) and the group its token asserts. */
export const BENCH_READER = 'bench-reader';
export const BENCH_GROUP = 'bench-team';

/**
 * How the bench reader can read each of its threat models, in tenths: 4 it owns, 3 name it in
 * a user reader entry, 2 name its group, 1 names `everyone`. Every path the list query matches
 * (owner, user entry, asserted group, built-in group) is exercised.
 */
const ACCESS_MIX = ['owner', 'owner', 'owner', 'owner', 'user', 'user', 'user', 'group', 'group', 'everyone'] as const;
type Access = (typeof ACCESS_MIX)[number];

/** A name for the cached database: the migrations, the projections' versions and the seed's parameters. */
export function seedDatabaseName(params: SeedParameters): string {
  const hash = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_DIR).sort()) hash.update(f).update(readFileSync(join(MIGRATIONS_DIR, f)));
  for (const p of projections) hash.update(`${p.name}:${p.version}`);
  hash.update(JSON.stringify({ ...params, SEED_VERSION, OWNERS }));
  return `tmi_bench_q_${hash.digest('hex').slice(0, 12)}`;
}

const callerFor = (hint: string): Caller => ({
  user_id: uuidv7(), provider: 'tmi', provider_id: hint, email: `${hint}@tmi.local`, email_verified: true,
  name: hint, groups: [], is_admin: false, is_security_reviewer: false,
});

const ENTRY: Record<Exclude<Access, 'owner'>, Authorization> = {
  user: { principal_type: 'user', provider: 'tmi', provider_id: BENCH_READER, role: 'reader' },
  group: { principal_type: 'group', provider: 'tmi', provider_id: BENCH_GROUP, role: 'reader' },
  everyone: { principal_type: 'group', provider: '*', provider_id: 'everyone', role: 'reader' },
};

/**
 * Writes `models` threat models through the event store exactly as the service's create
 * command does (the real decider, one `ThreatModelCreated` each, 1,000 new streams per
 * `appendToStreams`), then runs the real projections to the head, so the read tables are the
 * projections' output. Every `models / readable`-th one is readable by the bench reader.
 */
export async function seedThreatModels(url: string, params: SeedParameters, log: (line: string) => void): Promise<{ seconds: { append: number; project: number }; targets: ChildTargets }> {
  const database = openDatabase(url, { max: 4, applicationName: 'tmi-bench-seed' });
  try {
    const store = new EventStore(database.pool, eventCatalog);
    const owners = Array.from({ length: OWNERS }, (_, i) => callerFor(`owner-${String(i).padStart(4, '0')}`));
    const reader = callerFor(BENCH_READER);
    const stride = params.models / params.readable;
    const metadata = { actor: { user_id: null, email: null, provider: null }, trace_id: null, correlation_id: 'bench-seed', causation_id: null, request_id: null };
    // Oldest first, one second apart, so the newest page is a real "newest 20 of 1,000".
    const start = Date.now() - params.models * 1000;
    const t0 = performance.now();
    let readable = 0;
    const owned: string[] = [];
    for (let from = 0; from < params.models; from += STREAMS_PER_APPEND) {
      const appends: StreamAppend[] = [];
      for (let i = from; i < Math.min(params.models, from + STREAMS_PER_APPEND); i++) {
        const isReadable = readable < params.readable && i >= readable * stride;
        const access: Access | null = isReadable ? ACCESS_MIX[readable++ % ACCESS_MIX.length]! : null;
        const caller = access === 'owner' ? reader : owners[i % OWNERS]!;
        const input: ThreatModelInput = {
          name: `Seeded threat model ${i}`,
          description: 'A threat model written by the queries bench seed, about as long as a real one-line description.',
          threat_model_framework: 'STRIDE',
          authorization: access && access !== 'owner' ? [ENTRY[access]] : [],
        };
        const id = uuidv7();
        if (access === 'owner') owned.push(id);
        const events = decide({ type: 'CreateThreatModel', caller, now: new Date(start + i * 1000).toISOString(), threat_model_id: id, alias: i + 1, input }, initialState());
        appends.push({ stream_id: threatModelStreamId(id), stream_type: THREAT_MODEL_STREAM_TYPE, expected: 'no_stream', events });
      }
      await store.appendToStreams(appends, { metadata });
      if ((from / STREAMS_PER_APPEND) % 20 === 19) log(`  appended ${from + appends.length} threat models`);
    }
    await database.pool.query(`select setval('threat_model_alias_seq', $1)`, [params.models]);
    // The reader's two newest own threat models; children change neither their order nor who can read them.
    const targets = { threats: owned.at(-1)!, full: owned.at(-2)! };
    await seedChildren(database.pool, store, targets, params, Date.now(), metadata);
    log(`  appended ${params.threats} threats and ${params.children} children of every kind`);
    const appendSeconds = (performance.now() - t0) / 1000;

    const t1 = performance.now();
    const runner = new ProjectionRunner(database.pool, store, pino({ level: 'warn' }));
    for (const p of projections) await runner.ensureRegistered(p);
    // Two at a time: this machine has two cores, and each catch-up is one connection busy in turn with Node.
    const queue = [...projections];
    await Promise.all([0, 1].map(async () => {
      for (let p = queue.shift(); p; p = queue.shift()) {
        const result = await runner.catchUp(p);
        if (result.halted) throw new Error(`projection ${p.name} halted while seeding; see dead_letters`);
        log(`  projection ${p.name} at ${result.position} (${result.applied} applied)`);
      }
    }));
    return { seconds: { append: appendSeconds, project: (performance.now() - t1) / 1000 }, targets };
  } finally {
    await database.close();
  }
}

/**
 * The bare list's table: per subject, the threat models it can read, by newest change — one
 * row per owner, plus the bench reader's whole readable set, taken from the projections'
 * output with the service's own subject keys for the reader (callerSubjectKeys), not from the seed's intent.
 */
export async function buildBareReadable(url: string): Promise<number> {
  const readerKeys = callerSubjectKeys({ ...callerFor(BENCH_READER), groups: [BENCH_GROUP] });
  const database = openDatabase(url, { max: 1, applicationName: 'tmi-bench-seed' });
  try {
    await database.pool.query(`
      create table bare_readable (subject text not null, modified_at timestamptz not null, id uuid not null);
      insert into bare_readable select lower(owner->>'provider_id'), modified_at, id from threat_models where owner->>'provider_id' <> '${BENCH_READER}';`);
    const { rowCount } = await database.pool.query(
      `insert into bare_readable
       select distinct $4::text, t.modified_at, t.id
       from threat_model_access a join threat_models t on t.id = a.threat_model_id
       where (a.principal_type, a.provider, a.subject) in (select * from unnest($1::text[], $2::text[], $3::text[])) and t.deleted_at is null`,
      [readerKeys.map((k) => k.principal_type), readerKeys.map((k) => k.provider), readerKeys.map((k) => k.subject), BENCH_READER]);
    await database.pool.query('create unique index bare_readable_newest on bare_readable (subject, modified_at desc, id)');
    // Statistics as autovacuum would have them on a live database, so the planner is not guessing.
    await database.pool.query('vacuum analyze');
    return rowCount ?? 0;
  } finally {
    await database.close();
  }
}
