import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertConforms, assertContractMembers, assertErrorBody } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { KIND_SPECS } from '../child-resources/kinds.js';
import type { KindSpec } from '../child-resources/suite.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';
import { allPages, created, populatedThreatModel } from './fixtures.js';

/**
 * Time travel (`as_of`, an extension): a threat model and its sub-resources as they were at a
 * global position or time, folded from the events. The property drives random commands through
 * HTTP and records, right after each one, what the ordinary GETs answered, keyed by the position
 * the command committed at; GETs `as_of` any position must answer what was recorded last at or
 * before it.
 */
const TM = '/threat_models/{threat_model_id}';
const itemTemplate = (spec: KindSpec) => `${TM}/${spec.plural}/{${spec.idParam}}`;

interface Answer { status: number; etag: string | null; body: unknown }

const withAsOf = (path: string, asOf: string | number) => `${path}${path.includes('?') ? '&' : '?'}as_of=${encodeURIComponent(String(asOf))}`;

describe('time travel (as_of)', () => {
  let app: TestApp;
  let alice: Who;
  let rachel: Who;
  let sam: Who;

  beforeAll(async () => {
    app = await startTestApp();
    alice = signIn(app, 'alice');
    rachel = signIn(app, 'rachel');
    sam = signIn(app, 'sam');
  });
  afterAll(async () => { await app?.stop(); });

  const answer = async (res: Response): Promise<Answer> => ({ status: res.status, etag: res.headers.get('etag'), body: await res.json() });
  const read = async (path: string, who: Who, headers: Record<string, string> = {}) => answer(await app.request(path, { token: who.token, headers }));
  const positionOf = (res: Response) => Number(res.headers.get('x-event-position'));

  /** An as_of answer checked against the contract: its schema and its members for a 200, the error body otherwise. */
  function conforming(got: Answer, template: string, label: string): void {
    if (got.status === 200) {
      assertConforms('GET', template, 200, got.body);
      assertContractMembers('GET', template, 200, got.body);
    } else {
      expect(got.status, label).toBe(404);
      assertErrorBody(got.body);
    }
  }

  type Step =
    | { op: 'tm-patch' | 'tm-put' | 'tm-meta' | 'tm-delete' | 'tm-restore'; pick: number }
    | { op: 'create' | 'put' | 'patch' | 'delete' | 'restore' | 'meta'; kind: number; pick: number };
  const kind = fc.nat({ max: KIND_SPECS.length - 1 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constantFrom('tm-patch' as const, 'tm-put' as const, 'tm-meta' as const, 'tm-delete' as const, 'tm-restore' as const), pick: fc.nat() }),
    { arbitrary: fc.record({ op: fc.constantFrom('create' as const, 'put' as const, 'patch' as const, 'delete' as const, 'restore' as const, 'meta' as const), kind, pick: fc.nat() }), weight: 3 },
  );

  it('answers, as of any position, what the ordinary GETs answered right after the last command at or before it', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(step, { minLength: 1, maxLength: 10 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 4 }),
      async (steps, fractions) => {
        const keep = [userEntry(rachel, 'reader')];
        const made = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Travel', authorization: keep } });
        expect(made.status).toBe(201);
        const tm = await json(made);
        const base = `/threat_models/${tm.id}`;
        const children: { kind: number; id: string }[] = [];
        const childPath = (c: { kind: number; id: string }) => `${base}/${KIND_SPECS[c.kind]!.plural}/${c.id}`;
        const lists = KIND_SPECS.map((spec) => `${base}/${spec.plural}?limit=3&offset=${spec.plural.length % 2}`);
        const paths = () => [base, `${base}/metadata`, ...lists, ...children.flatMap((c) => [childPath(c), `${childPath(c)}/metadata`])];
        const templates = () => [TM, `${TM}/metadata`, ...KIND_SPECS.map((spec) => `${TM}/${spec.plural}`),
          ...children.flatMap((c) => [itemTemplate(KIND_SPECS[c.kind]!), `${itemTemplate(KIND_SPECS[c.kind]!)}/metadata`])];

        // What the ordinary GETs (read tables, read-your-writes) answer, path by path, after a command at `position`.
        const records: { position: number; answers: Map<string, Answer> }[] = [];
        const record = async (position: number) => {
          const answers = new Map<string, Answer>();
          for (const path of paths()) answers.set(path, await read(path, rachel, { 'x-min-position': String(position) }));
          records.push({ position, answers });
        };
        await record(positionOf(made));

        for (const [i, s] of steps.entries()) {
          let res: Response;
          if (s.op.startsWith('tm-')) {
            res = s.op === 'tm-patch' ? await app.request(base, { method: 'PATCH', token: alice.token, headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'replace', path: '/description', value: `d${i}` }]) })
              : s.op === 'tm-put' ? await app.request(base, { method: 'PUT', token: alice.token, json: { name: `Travel ${i}`, issue_uri: `https://issues.example.com/${i}`, authorization: keep } })
                : s.op === 'tm-meta' ? await app.request(`${base}/metadata/bulk`, { method: 'PATCH', token: alice.token, json: [{ key: `k${s.pick % 3}`, value: `v${i}` }] })
                  : s.op === 'tm-delete' ? await app.request(base, { method: 'DELETE', token: alice.token })
                    : await app.request(`${base}/restore`, { method: 'POST', token: alice.token });
          } else {
            const k = (s as { kind: number }).kind;
            const spec = KIND_SPECS[k]!;
            const mine = children.filter((c) => c.kind === k);
            const child = mine[s.pick % Math.max(mine.length, 1)];
            if (s.op === 'create' || !child) {
              res = await app.request(`${base}/${spec.plural}`, { method: 'POST', token: alice.token, json: spec.valid });
              if (res.status === 201) children.push({ kind: k, id: (await json(res.clone())).id });
            } else {
              const at = childPath(child);
              res = s.op === 'put' ? await app.request(at, { method: 'PUT', token: alice.token, json: { ...spec.replacement, name: `r${i}` } })
                : s.op === 'patch' ? await app.request(at, { method: 'PATCH', token: alice.token, headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'add', path: '/name', value: `p${i}` }]) })
                  : s.op === 'delete' ? await app.request(at, { method: 'DELETE', token: alice.token })
                    : s.op === 'restore' ? await app.request(`${at}/restore`, { method: 'POST', token: alice.token })
                      : await app.request(`${at}/metadata/bulk`, { method: 'PATCH', token: alice.token, json: [{ key: `k${s.pick % 3}`, value: `v${i}` }] });
            }
          }
          // Refusals (a deleted parent, deleting what is deleted, restoring what is live) append nothing.
          if (res.status < 300 && positionOf(res) > 0) await record(positionOf(res));
        }
        // Time travel needs today's access to the threat model: a deleted one is restored (after everything recorded).
        if (records.at(-1)!.answers.get(base)!.status === 404) expect((await app.request(`${base}/restore`, { method: 'POST', token: alice.token })).status).toBe(200);

        const expectedAt = (q: number) => [...records].reverse().find((r) => r.position <= q) ?? null;
        const last = records.at(-1)!.position;
        const first = records[0]!.position;
        // Before the creation, each recorded position, and random positions between (they answer the record before them).
        const positions = new Set([0, first - 1, ...records.map((r) => r.position), ...fractions.map((f) => Math.floor(first + f * (last - first)))]);
        for (const q of positions) {
          const expected = expectedAt(q);
          const all = paths();
          const tpl = templates();
          for (const [n, path] of all.entries()) {
            const got = await read(withAsOf(path, q), rachel);
            const want = expected?.answers.get(path) ?? { status: 404, etag: null, body: undefined };
            const label = `${path} as of ${q}`;
            expect(got.status, label).toBe(want.status);
            conforming(got, tpl[n]!, label);
            if (want.status === 200) {
              expect(got.body, label).toEqual(want.body);
              expect(got.etag, label).toBe(want.etag);
            }
          }
        }
      },
    ), { numRuns: 4 });
  }, 300_000);

  it('resolves a time to the last position recorded at or before it, in any offset', async () => {
    const tm = await created(app, '/threat_models', alice.token, { name: 'Clock' });
    const base = `/threat_models/${tm.id}`;
    const names = ['Clock'];
    for (const name of ['Clock 2', 'Clock 3']) {
      await new Promise((r) => setTimeout(r, 30));
      expect((await app.request(base, { method: 'PUT', token: alice.token, json: { name } })).status).toBe(200);
      names.push(name);
    }
    const events = (await allPages(app, `/extensions/history/threat_models/${tm.id}/events`, alice.token, 100));
    expect(events.map((e) => e.type)).toEqual(['ThreatModelCreated', 'ThreatModelDetailsChanged', 'ThreatModelDetailsChanged']);
    const shift = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
    for (const [i, e] of events.entries()) {
      // The feed shows milliseconds; the store keeps microseconds, so a millisecond later is after the event and before the next.
      const got = await app.request(withAsOf(base, shift(e.created_at, 1)), { token: alice.token });
      expect(got.status).toBe(200);
      expect(got.headers.get('x-as-of-position')).toBe(String(e.position));
      expect((await json(got)).name).toBe(names[i]);
      const offset = new Date(Date.parse(e.created_at) + 1).toISOString().replace('Z', '+00:00').replace(/T(\d\d)/, (_m, h) => `T${String((Number(h) + 2) % 24).padStart(2, '0')}`);
      // The same instant written at +02:00 (dates aside: only the hours move, and only when they do not wrap).
      if (Number(e.created_at.slice(11, 13)) < 22) {
        const zoned = await json(await app.request(withAsOf(base, offset.replace('+00:00', '+02:00')), { token: alice.token }));
        expect(zoned.name).toBe(names[i]);
      }
    }
    const before = await app.request(withAsOf(base, shift(events[0]!.created_at, -1000)), { token: alice.token });
    expect(before.status).toBe(404);
    assertErrorBody(await json(before));
  });

  it('is 404 before a resource was created and while it was deleted, 200 again once restored', async () => {
    const { id, children } = await populatedThreatModel(app, alice.token, { authorization: [userEntry(rachel, 'reader')] });
    const base = `/threat_models/${id}`;
    const threat = `${base}/threats/${children.threats}`;
    const historyPositions = async () => (await allPages(app, `/extensions/history/threat_models/${id}/events`, alice.token, 100)).map((e) => e.position);
    const createdAt = (await historyPositions())[0]!;
    for (const path of [base, threat, `${base}/metadata`, `${threat}/metadata`, `${threat}/metadata/ticket`]) {
      const res = await app.request(withAsOf(path, createdAt - 1), { token: rachel.token });
      expect(res.status, path).toBe(404);
      assertErrorBody(await json(res));
    }
    const deleted = await app.request(threat, { method: 'DELETE', token: alice.token });
    expect(deleted.status).toBe(204);
    expect((await app.request(withAsOf(threat, positionOf(deleted)), { token: rachel.token })).status).toBe(404);
    expect((await app.request(withAsOf(threat, positionOf(deleted) - 1), { token: rachel.token })).status).toBe(200);
    const full = await json(await app.request(withAsOf(base, positionOf(deleted)), { token: rachel.token }));
    expect(full.threats).toEqual([]);
    expect(full.diagrams).toHaveLength(1);
    // A list as of then: the deleted threat only in an owner's list with include_deleted, as today.
    const listed = async (query: string, who: Who) => json(await app.request(withAsOf(`${base}/threats${query}`, positionOf(deleted)), { token: who.token }));
    expect(await listed('', rachel)).toEqual({ threats: [], total: 0, limit: 20, offset: 0 });
    const owned = await listed('?include_deleted=true', alice);
    expect(owned.threats.map((t: { id: string; deleted_at?: string }) => [t.id, typeof t.deleted_at])).toEqual([[children.threats, 'string']]);
    expect((await app.request(withAsOf(`${base}/threats?include_deleted=true`, positionOf(deleted)), { token: rachel.token })).status).toBe(403);

    const gone = await app.request(base, { method: 'DELETE', token: alice.token });
    const back = await app.request(`${base}/restore`, { method: 'POST', token: alice.token });
    expect([gone.status, back.status]).toEqual([204, 200]);
    for (const path of [base, `${base}/diagrams/${children.diagrams}`, `${base}/metadata`]) {
      expect((await app.request(withAsOf(path, positionOf(gone)), { token: rachel.token })).status, path).toBe(404);
      expect((await app.request(withAsOf(path, positionOf(back)), { token: rachel.token })).status, path).toBe(200);
    }
    // Deleted today, it is gone for time travel too (today's access decides, and a deleted threat model is nobody's to read).
    expect((await app.request(base, { method: 'DELETE', token: alice.token })).status).toBe(204);
    expect((await app.request(withAsOf(base, positionOf(back)), { token: alice.token })).status).toBe(404);
  });

  it('takes a position for its whole transaction: a child created with metadata never shows without it', async () => {
    const tm = (await json(await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Whole commands' } }))).id as string;
    const res = await app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: alice.token, json: { name: 'With metadata', threat_type: ['Spoofing'], metadata: [{ key: 'k', value: 'v' }] } });
    expect(res.status).toBe(201);
    const threat = (await json(res)).id as string;
    const feed = await json(await app.request(`/extensions/history/threat_models/${tm}/events?limit=1000`, { token: alice.token }));
    const createdAt = (feed.events as { position: number; type: string; stream_id: string }[]).find((e) => e.type.endsWith('Created') && e.stream_id.includes(threat))!;
    // The create's first event, which its metadata follows in the same transaction.
    const got = await read(withAsOf(`/threat_models/${tm}/threats/${threat}`, createdAt.position), alice);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: threat, metadata: [{ key: 'k', value: 'v' }] });
  });

  it('answers as of the head for a position beyond it', async () => {
    const { id, children } = await populatedThreatModel(app, alice.token);
    for (const path of [`/threat_models/${id}`, `/threat_models/${id}/documents/${children.documents}`, `/threat_models/${id}/metadata`]) {
      const now = await read(path, alice);
      const res = await app.request(withAsOf(path, '99999999999999999999'), { token: alice.token });
      const far = await answer(res);
      expect(far.status, path).toBe(200);
      expect(far.body, path).toEqual(now.body);
      expect(Number(res.headers.get('x-as-of-position'))).toBeGreaterThan(0);
    }
  });

  it('never answers beyond the safe horizon: a position an open transaction may still fill is answered as of the last settled one', async () => {
    const tm = await created(app, '/threat_models', alice.token, { name: 'Before' });
    const base = `/threat_models/${tm.id}`;
    const holder = new pg.Client({ connectionString: app.database.url });
    await holder.connect();
    try {
      // A transaction of the service's database that holds an id and might still append: the horizon stays below it.
      await holder.query('begin');
      await holder.query('select pg_current_xact_id()');
      const changed = await app.request(base, { method: 'PUT', token: alice.token, headers: { prefer: 'respond-async' }, json: { name: 'After' } });
      expect(changed.status).toBe(202);
      const held = await app.request(withAsOf(base, positionOf(changed)), { token: alice.token });
      expect(held.status).toBe(200);
      expect((await json(held)).name).toBe('Before');
      expect(Number(held.headers.get('x-as-of-position'))).toBeLessThan(positionOf(changed));
      await holder.query('rollback');
      const settled = await app.request(withAsOf(base, positionOf(changed)), { token: alice.token });
      expect((await json(settled)).name).toBe('After');
      expect(Number(settled.headers.get('x-as-of-position'))).toBe(positionOf(changed));
    } finally {
      await holder.end();
    }
  });

  it('refuses a malformed as_of with 400 before anything else is looked at', async () => {
    const { id, children } = await populatedThreatModel(app, alice.token);
    const unknown = '0190b000-0000-7000-8000-00000000dead';
    for (const bad of ['-1', '1.5', 'abc', '', 'yesterday', '2024-13-01T00:00:00Z', '2024-01-01', '0000-01-01T00:00:00Z', '1e5']) {
      for (const path of [`/threat_models/${id}`, `/threat_models/${unknown}`, `/threat_models/${id}/assets/${children.assets}`, `/threat_models/${id}/metadata`]) {
        const res = await app.request(withAsOf(path, bad), { token: alice.token });
        expect(res.status, `${path} as_of=${bad}`).toBe(400);
        assertErrorBody(await json(res));
      }
    }
    // Filters and sorts are the read tables' business: a list as of a position takes none.
    for (const query of ['severity=high', 'sort=score:desc', 'name=x']) {
      const res = await app.request(`/threat_models/${id}/threats?as_of=1&${query}`, { token: alice.token });
      expect(res.status, query).toBe(400);
      assertErrorBody(await json(res));
    }
  });

  it('lets a reader of today travel, and nobody else', async () => {
    const { id, children } = await populatedThreatModel(app, alice.token, { authorization: [userEntry(rachel, 'reader')] });
    const first = (await allPages(app, `/extensions/history/threat_models/${id}/events`, alice.token, 100)).at(-1)!.position;
    const paths = [`/threat_models/${id}`, `/threat_models/${id}/notes/${children.notes}`, `/threat_models/${id}/threats/${children.threats}/metadata`];
    for (const path of paths) {
      expect((await app.request(withAsOf(path, first), { token: rachel.token })).status, path).toBe(200);
      const denied = await app.request(withAsOf(path, first), { token: sam.token });
      expect(denied.status, path).toBe(403);
      assertErrorBody(await json(denied));
    }
    // Access is today's: rachel removed, she cannot see even the states she could read then.
    const revoked = await app.request(`/threat_models/${id}`, { method: 'PUT', token: alice.token, json: { name: 'Private', authorization: [] } });
    expect(revoked.status).toBe(200);
    for (const path of paths) expect((await app.request(withAsOf(path, first), { token: rachel.token })).status, path).toBe(403);
    // A child is found only under its own parent, then as now.
    const other = await created(app, '/threat_models', alice.token, { name: 'Other', authorization: [userEntry(rachel, 'reader')] });
    const smuggled = await app.request(withAsOf(`/threat_models/${other.id}/notes/${children.notes}`, '99999999999999999999'), { token: rachel.token });
    expect(smuggled.status).toBe(404);
    assertErrorBody(await json(smuggled));
    const unknown = await app.request(withAsOf('/threat_models/0190b000-0000-7000-8000-00000000dead', first), { token: rachel.token });
    expect(unknown.status).toBe(404);
    assertErrorBody(await json(unknown));
  });

  it('publishes as_of in the service\'s OpenAPI document as an extension', async () => {
    const doc = await json(await app.request('/openapi.json'));
    const asOfOf = (path: string) => (doc.paths[path].get.parameters as { name: string; in: string; description?: string; schema?: { description?: string } }[])
      .find((p) => p.name === 'as_of' && p.in === 'query');
    for (const path of [TM, `${TM}/metadata`, ...KIND_SPECS.flatMap((s) => [`${TM}/${s.plural}`, itemTemplate(s), `${itemTemplate(s)}/metadata`])]) {
      const param = asOfOf(path);
      expect(param, path).toBeDefined();
      expect(param!.description ?? param!.schema?.description, path).toMatch(/^Extension/);
    }
  });
});

describe('time travel (as_of) bound', () => {
  let app: TestApp;
  let alice: Who;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { limits: { as_of_max_events: 4 } } });
    alice = signIn(app, 'alice');
  });
  afterAll(async () => { await app?.stop(); });

  it('refuses (400, the error body) a read that would fold more than limits.as_of_max_events events; smaller reads answer', async () => {
    const tm = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Bounded' } });
    expect(tm.status).toBe(201);
    const id = (await json(tm)).id as string;
    const first = Number(tm.headers.get('x-event-position'));
    let threat = '';
    let last = first;
    for (let i = 0; i < 4; i++) {
      const res = await app.request(`/threat_models/${id}/threats`, { method: 'POST', token: alice.token, json: { name: `t${i}`, threat_type: [] } });
      expect(res.status).toBe(201);
      threat ||= (await json(res)).id as string;
      last = Number(res.headers.get('x-event-position'));
    }
    const whole = await app.request(withAsOf(`/threat_models/${id}`, last), { token: alice.token });
    expect(whole.status).toBe(400);
    const body = await json(whole);
    assertErrorBody(body);
    expect(body.error_description).toMatch(/more than 4 events/);
    // The model then, and one threat (its stream and the model's), are within the bound.
    expect((await app.request(withAsOf(`/threat_models/${id}`, first), { token: alice.token })).status).toBe(200);
    expect((await app.request(withAsOf(`/threat_models/${id}/threats/${threat}`, last), { token: alice.token })).status).toBe(200);
  });
});
