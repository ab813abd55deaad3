import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_GROUP, BENCH_READER, buildBareReadable, seedThreatModels } from '../../bench/queries/seed.js';
import { listThreatModels } from '../../src/queries/threat-models.js';
import type { Caller } from '../../src/commands/caller.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// bench/queries measures the list for a reader of 1,000 of 100,000 threat models; this seeds the
// same shape small and checks that the projections give the reader exactly its share, through
// every kind of entry, and that the bare query the list is compared with returns the same page.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

const reader = (groups: string[]): Caller => ({
  user_id: '00000000-0000-4000-8000-000000000001', provider: 'tmi', provider_id: BENCH_READER, email: `${BENCH_READER}@tmi.local`,
  email_verified: true, name: BENCH_READER, groups, is_admin: false, is_security_reviewer: false,
});

describe('queries bench seed', () => {
  it('gives the bench reader its share through the projections, and the bare query the same first page', async () => {
    const { targets } = await seedThreatModels(database.url, { models: 400, readable: 40, threats: 30, children: 20 }, () => {});
    expect(await buildBareReadable(database.url)).toBe(40);

    const { items, total } = await listThreatModels(database.pool, reader([BENCH_GROUP]), {}, 20, 0);
    expect(total).toBe(40);
    // Without the group, the group's 20 % are out of reach.
    expect((await listThreatModels(database.pool, reader([]), {}, 20, 0)).total).toBe(32);
    expect(items.filter((t) => t.owner.provider_id === BENCH_READER)).toHaveLength(8);

    const { rows } = await database.pool.query<{ id: string }>(
      `select t.id from (select id, modified_at from bare_readable where subject = $1 order by modified_at desc, id limit 20) p
       join threat_models t on t.id = p.id order by p.modified_at desc, p.id`, [BENCH_READER]);
    expect(rows.map((r) => r.id)).toEqual(items.map((t) => t.id));
    const { rows: [events] } = await database.pool.query<{ n: string }>(`select count(*) as n from events where type = 'ThreatModelCreated'`);
    expect(Number(events!.n)).toBe(400);

    // The children went through the deciders and projections: the counts of both parents, and their aliases.
    const { rows: parents } = await database.pool.query<{ id: string; threat_count: number; document_count: number; repo_count: number; note_count: number; asset_count: number; owner: { provider_id: string } }>(
      'select id, threat_count, document_count, repo_count, note_count, asset_count, owner from threat_models where id = any($1::uuid[]) order by id', [[targets.threats, targets.full]]);
    const byId = new Map(parents.map((p) => [p.id, p]));
    expect(byId.get(targets.threats)).toMatchObject({ threat_count: 30, document_count: 0, owner: { provider_id: BENCH_READER } });
    expect(byId.get(targets.full)).toMatchObject({ threat_count: 8, document_count: 4, repo_count: 3, note_count: 3, asset_count: 2, owner: { provider_id: BENCH_READER } });
    const { rows: severities } = await database.pool.query<{ severity: string; n: number }>(
      'select severity, count(*)::int as n from threats where threat_model_id = $1 group by 1 order by 1', [targets.threats]);
    expect(severities).toEqual(['critical', 'high', 'informational', 'low', 'medium', 'unknown'].map((severity) => ({ severity, n: 5 })));
    const { rows: aliases } = await database.pool.query<{ kind: string; last_alias: number }>(
      'select kind, last_alias from child_aliases where threat_model_id = $1 order by kind', [targets.full]);
    expect(aliases).toEqual([{ kind: 'asset', last_alias: 2 }, { kind: 'document', last_alias: 4 }, { kind: 'note', last_alias: 3 }, { kind: 'repository', last_alias: 3 }, { kind: 'threat', last_alias: 8 }]);
  });
});
