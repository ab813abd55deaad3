import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHILD_AGGREGATES } from '../../src/commands/children.js';
import { COUNT_COLUMN_OF, childEventTypes } from '../../src/commands/child-resources/index.js';
import { assertContractMembers, assertConforms } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { KIND_SPECS } from './kinds.js';
import { useChildResourceApp, type ChildResourceContext, type KindSpec } from './suite.js';

/**
 * The parent's six cached counts, across every kind at once: after any mix of creates, deletes,
 * restores and bulk creates they equal the live children per kind folded from the events, and
 * the live rows of each kind's read table. Deleting the parent hides its children; restoring it
 * brings them back with the same counts, and the full ThreatModel body shows them.
 */
type Step =
  | { op: 'create'; kind: number }
  | { op: 'bulk'; kind: number; n: number }
  | { op: 'delete' | 'restore'; kind: number; pick: number };

const kinds = fc.nat({ max: KIND_SPECS.length - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), kind: kinds }),
  fc.record({ op: fc.constant('bulk' as const), kind: kinds, n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constantFrom('delete' as const, 'restore' as const), kind: kinds, pick: fc.nat() }),
);

type Counts = Record<KindSpec['count'], number>;

/** The live children of one threat model per count column, folded from its children's lifecycle events alone. */
async function countsFromEvents(ctx: ChildResourceContext, tm: string): Promise<Counts> {
  const live = new Map<string, { column: KindSpec['count']; alive: boolean }>();
  const effect = new Map<string, { column: KindSpec['count']; alive: boolean }>();
  for (const { resource } of CHILD_AGGREGATES) {
    const t = childEventTypes(resource.label);
    const column = COUNT_COLUMN_OF[resource.kind];
    effect.set(t.created, { column, alive: true }).set(t.restored, { column, alive: true }).set(t.deleted, { column, alive: false });
  }
  for (let after = 0; ;) {
    const { events } = await ctx.app.runtime.services.store.readAll({ after, limit: 500, types: [...effect.keys()] });
    for (const e of events) {
      const data = e.data as { threat_model_id: string; id: string };
      if (data.threat_model_id === tm) live.set(e.stream_id, effect.get(e.type)!);
    }
    if (events.length < 500) break;
    after = events[events.length - 1]!.position;
  }
  const counts = Object.fromEntries(Object.values(COUNT_COLUMN_OF).map((c) => [c, 0])) as Counts;
  for (const { column, alive } of live.values()) if (alive) counts[column] += 1;
  return counts;
}

/** The live rows of each kind's read table under one threat model. */
async function countsFromTables(ctx: ChildResourceContext, tm: string): Promise<Counts> {
  const counts = Object.fromEntries(Object.values(COUNT_COLUMN_OF).map((c) => [c, 0])) as Counts;
  for (const { resource } of CHILD_AGGREGATES) {
    const { rows } = await ctx.app.runtime.services.database.pool.query<{ n: number }>(
      `select count(*)::int as n from "${resource.plural}" where threat_model_id = $1 and deleted_at is null`, [tm]);
    counts[COUNT_COLUMN_OF[resource.kind]] = rows[0]!.n;
  }
  return counts;
}

describe('the parent\'s child counts, across every kind', () => {
  const ctx = useChildResourceApp();

  it('equal the live children folded from the events and counted in the read tables, after any mix of commands; the parent\'s delete and restore hide and bring them back', async () => {
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
      const tm = await ctx.threatModel('Counts');
      const base = (spec: KindSpec) => `/threat_models/${tm}/${spec.plural}`;
      // The model: every child created so far per kind, and whether it is live.
      const made = KIND_SPECS.map(() => [] as { id: string; live: boolean }[]);
      const as = (who: 'writer' | 'owner') => ctx[who].token;

      for (const s of steps) {
        const spec = KIND_SPECS[s.kind]!;
        const mine = made[s.kind]!;
        if (s.op === 'create' || (s.op === 'bulk' && !spec.bulk?.create)) {
          const res = await ctx.app.request(base(spec), { method: 'POST', token: as('writer'), json: spec.valid });
          expect(res.status).toBe(201);
          mine.push({ id: (await json(res)).id, live: true });
        } else if (s.op === 'bulk') {
          const res = await ctx.app.request(`${base(spec)}/bulk`, { method: 'POST', token: as('writer'), json: Array.from({ length: s.n }, () => spec.valid) });
          expect(res.status).toBe(201);
          for (const child of await json(res)) mine.push({ id: child.id, live: true });
        } else if (mine.length > 0) {
          const child = mine[s.pick % mine.length]!;
          const deleting = s.op === 'delete';
          const res = await ctx.app.request(`${base(spec)}/${child.id}${deleting ? '' : '/restore'}`, { method: deleting ? 'DELETE' : 'POST', token: as('owner') });
          // Deleting a deleted child finds nothing; restoring a live one is a conflict; neither moves a count.
          expect(res.status).toBe(deleting ? (child.live ? 204 : 404) : (child.live ? 409 : 200));
          if (res.status < 300) child.live = !deleting;
        }
      }

      const expected = Object.fromEntries(Object.values(COUNT_COLUMN_OF).map((c) => [c, 0])) as Counts;
      KIND_SPECS.forEach((spec, k) => { expected[spec.count] = made[k]!.filter((c) => c.live).length; });
      const cached = await ctx.counts(tm);
      expect(cached).toEqual(expected);
      expect(await countsFromEvents(ctx, tm)).toEqual(cached);
      expect(await countsFromTables(ctx, tm)).toEqual(cached);

      // Deleting the parent hides every child, through the parent's gate; restoring it brings them back as they were.
      expect((await ctx.app.request(`/threat_models/${tm}`, { method: 'DELETE', token: as('owner') })).status).toBe(204);
      for (const [k, spec] of KIND_SPECS.entries()) {
        expect((await ctx.app.request(base(spec), { token: as('owner') })).status).toBe(404);
        expect((await ctx.app.request(base(spec), { method: 'POST', token: as('writer'), json: spec.valid })).status).toBe(404);
        const child = made[k]![0];
        if (child) expect((await ctx.app.request(`${base(spec)}/${child.id}`, { token: as('owner') })).status).toBe(404);
      }
      expect((await ctx.app.request(`/threat_models/${tm}/restore`, { method: 'POST', token: as('owner') })).status).toBe(200);
      expect(await ctx.counts(tm)).toEqual(expected);
      for (const [k, spec] of KIND_SPECS.entries()) {
        const list = await json(await ctx.app.request(base(spec), { token: ctx.reader.token }));
        expect(list.total).toBe(expected[spec.count]);
        const live = made[k]!.find((c) => c.live);
        if (live) expect((await ctx.app.request(`${base(spec)}/${live.id}`, { token: ctx.reader.token })).status).toBe(200);
      }
      const listed = await json(await ctx.app.request('/threat_models?limit=100', { token: ctx.reader.token }));
      expect(listed.threat_models.find((t: { id: string }) => t.id === tm)).toMatchObject(expected);
      // The full ThreatModel body carries the live children of every kind, each in the contract's shape for it there.
      const full = await json(await ctx.app.request(`/threat_models/${tm}`, { token: ctx.reader.token }));
      assertConforms('GET', '/threat_models/{threat_model_id}', 200, full);
      assertContractMembers('GET', '/threat_models/{threat_model_id}', 200, full);
      for (const spec of KIND_SPECS) expect(full[spec.plural], spec.plural).toHaveLength(expected[spec.count]);
    }), { numRuns: 8 });
  });
});
