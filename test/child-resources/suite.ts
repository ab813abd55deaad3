import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertContractMembers, assertConforms, assertErrorBody, metadataReplacement, responseValidator } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventCount, signIn, userEntry, type Who } from '../threat-models/helpers.js';

type Body = Record<string, unknown>;
type PatchOperation = { op: string; path: string; value?: unknown; from?: string };

/**
 * What the shared conformance suite needs to know of one kind of child resource: the contract's
 * names for it, inputs it accepts and refuses, a patch, which bulk operations the contract gives
 * it and how its list shows an item. Everything else is the same for every kind and tested once,
 * here, for each of them.
 */
export interface KindSpec {
  /** Path segment, read table and list member (`threats`, `documents`, …). */
  plural: string;
  /** The item's path parameter in the contract (`threat_id`, …). */
  idParam: string;
  /** The parent's cached count this kind moves. */
  count: 'threat_count' | 'diagram_count' | 'document_count' | 'repo_count' | 'note_count' | 'asset_count';
  /** A valid create body, and what the created resource shows of it (TMI's defaults filled in). */
  valid: Body;
  created: Body;
  /** Another valid body (PUT, bulk update); it names every member a bulk update item requires. */
  replacement: Body;
  /** A valid PUT body that shows as `created`, when `valid` is not one (a diagram's PUT requires its cells). */
  put?: Body;
  /** Who deletes one: the writer unless the contract says the owner (diagrams). */
  deleteRole?: 'owner';
  /** A body the contract refuses (400). */
  invalid: Body;
  /** A JSON Patch and what the patched resource shows. */
  patch: { operations: PatchOperation[]; shows: Body };
  /** The contract gives PUT and PATCH an If-Match header (a write without one is answered with TMI's Warning). */
  ifMatch: boolean;
  /** Members of the resource its list items leave out (notes: content). */
  listOmits?: string[];
  /** Read-only routes under an item beyond the shared ones (diagrams: `/model`). */
  itemReads?: string[];
  /** The contract's bulk operations for the kind and their success statuses. */
  bulk?: { max: number; create?: 201; update?: 200 | 201; patch?: boolean; delete?: boolean };
}

/** The app, users and helpers a kind's HTTP tests share; filled in by `useChildResourceApp` before the tests run. */
export interface ChildResourceContext {
  app: TestApp;
  owner: Who;
  writer: Who;
  reader: Who;
  /** A new threat model owned by `owner`, with `writer` and `reader` on its access list. */
  threatModel(name?: string): Promise<string>;
  /** The parent's six cached counts, as its read table holds them. */
  counts(tm: string): Promise<Record<KindSpec['count'], number>>;
  /** One kind's collection under a new threat model: its path, and a POST to it (as the writer unless told). */
  collection(plural: string): Promise<{ tm: string; path: string; post(body: unknown, who?: Who): Promise<Response> }>;
}

/** Starts one app for the tests of the enclosing describe. */
export function useChildResourceApp(): ChildResourceContext {
  const ctx = {} as ChildResourceContext;
  beforeAll(async () => {
    ctx.app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    ctx.owner = signIn(ctx.app, 'olga');
    ctx.writer = signIn(ctx.app, 'walt');
    ctx.reader = signIn(ctx.app, 'rita');
    ctx.threatModel = async (name = 'Child resources') => {
      const res = await ctx.app.request('/threat_models', {
        method: 'POST', token: ctx.owner.token, json: { name, authorization: [userEntry(ctx.writer, 'writer'), userEntry(ctx.reader, 'reader')] },
      });
      expect(res.status).toBe(201);
      return (await json(res)).id as string;
    };
    ctx.counts = async (tm) => {
      const { rows } = await ctx.app.runtime.services.database.pool.query(
        'select threat_count, diagram_count, document_count, repo_count, note_count, asset_count from threat_models where id = $1', [tm]);
      return rows[0];
    };
    ctx.collection = async (plural) => {
      const tm = await ctx.threatModel();
      const path = `/threat_models/${tm}/${plural}`;
      return { tm, path, post: (body, who = ctx.writer) => ctx.app.request(path, { method: 'POST', token: who.token, json: body }) };
    };
  });
  afterAll(async () => { await ctx.app?.stop(); });
  return ctx;
}

/** An answer and the contract's verdict on it, for the status it has. */
async function conforming(res: Response, method: string, path: string, status: number): Promise<Body> {
  expect(res.status, `${method} ${path}`).toBe(status);
  const body = res.status === 204 ? null : await json(res);
  if (responseValidator(method, path, status) !== null) {
    assertConforms(method, path, status, body);
    assertContractMembers(method, path, status, body);
  } else {
    assertConforms(method, path, status, body);
  }
  return body as Body;
}

/** A refusal: the status, and the contract's error body (the operation's own schema when the contract lists the status). */
async function refused(res: Response, method: string, path: string, status: number): Promise<Body> {
  expect(res.status, `${method} ${path}`).toBe(status);
  const body = await json(res);
  assertErrorBody(body);
  return body;
}

/**
 * The HTTP conformance of one kind of child resource: lifecycle, list, bad input, bulk and
 * metadata, every answer checked against the contract (ajv, and no member the contract lacks).
 * `own` adds the kind's own tests, on the same app.
 */
export function describeChildResource(spec: KindSpec, own?: (ctx: ChildResourceContext) => void): void {
  describe(`${spec.plural} over HTTP`, () => {
    const ctx = useChildResourceApp();
    sharedTests(spec, ctx);
    own?.(ctx);
  });
}

function sharedTests(spec: KindSpec, ctx: ChildResourceContext): void {
  const P = `/threat_models/{threat_model_id}/${spec.plural}`;
  const ITEM = `${P}/{${spec.idParam}}`;
  const base = (tm: string) => `/threat_models/${tm}/${spec.plural}`;
  const req = (path: string, who: Who, init: RequestInit & { json?: unknown } = {}) => ctx.app.request(path, { ...init, token: who.token });
  const patchBody = (operations: unknown) => ({ method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(operations) });
  const create = async (tm: string, input: Body = spec.valid) => conforming(await req(base(tm), ctx.writer, { method: 'POST', json: input }), 'POST', P, 201);

  describe(`${spec.plural}: the shared child-resource routes`, () => {
    it('creates, reads, replaces, patches, deletes and restores, keeping the parent\'s count exact', async () => {
      const tm = await ctx.threatModel();
      const res = await req(base(tm), ctx.writer, { method: 'POST', json: spec.valid });
      const created = await conforming(res, 'POST', P, 201);
      expect(created).toMatchObject({ ...spec.created, alias: 1, metadata: [] });
      expect(res.headers.get('location')).toBe(`${base(tm)}/${created.id}`);
      expect(res.headers.get('etag')).toBe('"1"');
      expect((await ctx.counts(tm))[spec.count]).toBe(1);
      const item = `${base(tm)}/${created.id}`;

      const got = await req(item, ctx.reader);
      expect(await conforming(got, 'GET', ITEM, 200)).toEqual(created);
      expect(got.headers.get('etag')).toBe('"1"');

      // If-Match is honoured on every kind; a stale one changes nothing.
      await refused(await req(item, ctx.writer, { method: 'PUT', headers: { 'if-match': '"7"' }, json: spec.replacement }), 'PUT', ITEM, 409);
      const replaced = await req(item, ctx.writer, { method: 'PUT', headers: { 'if-match': '"1"' }, json: spec.replacement });
      expect(await conforming(replaced, 'PUT', ITEM, 200)).toMatchObject({ id: created.id, alias: 1 });
      expect(replaced.headers.get('etag')).toBe('"2"');
      expect(replaced.headers.get('warning')).toBeNull();
      // Without If-Match: TMI's Warning where the contract gives the operation the header, nothing where it does not.
      const unchecked = await req(item, ctx.writer, { method: 'PUT', json: spec.put ?? spec.valid });
      expect(await conforming(unchecked, 'PUT', ITEM, 200)).toMatchObject(spec.created);
      expect(unchecked.headers.get('warning') !== null).toBe(spec.ifMatch);

      const patched = await req(item, ctx.writer, { ...patchBody(spec.patch.operations), headers: { 'content-type': 'application/json-patch+json', 'if-match': '"3"' } });
      expect(await conforming(patched, 'PATCH', ITEM, 200)).toMatchObject(spec.patch.shows);
      expect(patched.headers.get('etag')).toBe('"4"');
      const before = await eventCount(ctx.app);
      for (const path of ['/alias', '/id', '/created_at', '/version', '/no_such_member']) {
        const body = await refused(await req(item, ctx.writer, patchBody([{ op: 'replace', path, value: 9 }])), 'PATCH', ITEM, 400);
        expect(body.error).toBe('invalid_input');
      }
      expect(await eventCount(ctx.app)).toBe(before);

      await refused(await req(item, ctx.reader, { method: 'DELETE' }), 'DELETE', ITEM, 403);
      if (spec.deleteRole === 'owner') await refused(await req(item, ctx.writer, { method: 'DELETE' }), 'DELETE', ITEM, 403);
      const deleter = spec.deleteRole === 'owner' ? ctx.owner : ctx.writer;
      await conforming(await req(item, deleter, { method: 'DELETE' }), 'DELETE', ITEM, 204);
      await refused(await req(item, ctx.reader), 'GET', ITEM, 404);
      await refused(await req(item, deleter, { method: 'DELETE' }), 'DELETE', ITEM, 404);
      expect((await ctx.counts(tm))[spec.count]).toBe(0);
      expect((await json(await req(base(tm), ctx.owner)))[spec.plural]).toEqual([]);
      const withDeleted = await conforming(await req(`${base(tm)}?include_deleted=true`, ctx.owner), 'GET', P, 200);
      expect(withDeleted[spec.plural]).toEqual([expect.objectContaining({ id: created.id, deleted_at: expect.any(String) })]);

      await refused(await req(`${item}/restore`, ctx.writer, { method: 'POST' }), 'POST', `${ITEM}/restore`, 403);
      const restored = await conforming(await req(`${item}/restore`, ctx.owner, { method: 'POST' }), 'POST', `${ITEM}/restore`, 200);
      expect(restored).toMatchObject({ id: created.id, alias: 1 });
      expect(restored).not.toHaveProperty('deleted_at');
      await refused(await req(`${item}/restore`, ctx.owner, { method: 'POST' }), 'POST', `${ITEM}/restore`, 409);
      expect((await ctx.counts(tm))[spec.count]).toBe(1);
    });

    it('is restored under a live parent only, by its owner or an administrator', async () => {
      const tm = await ctx.threatModel();
      const made = await create(tm);
      const item = `${base(tm)}/${made.id}`;
      const deleter = spec.deleteRole === 'owner' ? ctx.owner : ctx.writer;
      const admin = signIn(ctx.app, 'ada', { is_admin: true });
      await conforming(await req(item, deleter, { method: 'DELETE' }), 'DELETE', ITEM, 204);
      // An administrator with no role on the threat model restores as its owner would.
      expect(await conforming(await req(`${item}/restore`, admin, { method: 'POST' }), 'POST', `${ITEM}/restore`, 200)).toMatchObject({ id: made.id });
      await conforming(await req(item, deleter, { method: 'DELETE' }), 'DELETE', ITEM, 204);
      expect((await req(`/threat_models/${tm}`, ctx.owner, { method: 'DELETE' })).status).toBe(204);
      const before = await eventCount(ctx.app);
      await refused(await req(`${item}/restore`, ctx.owner, { method: 'POST' }), 'POST', `${ITEM}/restore`, 409);
      await refused(await req(`${item}/restore`, admin, { method: 'POST' }), 'POST', `${ITEM}/restore`, 409);
      await refused(await req(`${item}/restore`, ctx.writer, { method: 'POST' }), 'POST', `${ITEM}/restore`, 403);
      expect(await eventCount(ctx.app)).toBe(before);
      expect((await req(`/threat_models/${tm}/restore`, ctx.owner, { method: 'POST' })).status).toBe(200);
      await conforming(await req(`${item}/restore`, ctx.owner, { method: 'POST' }), 'POST', `${ITEM}/restore`, 200);
      expect((await ctx.counts(tm))[spec.count]).toBe(1);
    });

    it('reads an id in either case as the same child', async () => {
      const tm = await ctx.threatModel();
      const made = await create(tm);
      const deleter = spec.deleteRole === 'owner' ? ctx.owner : ctx.writer;
      const upper = `/threat_models/${tm.toUpperCase()}/${spec.plural}/${String(made.id).toUpperCase()}`;
      expect(await conforming(await req(upper, ctx.reader), 'GET', ITEM, 200)).toEqual(made);
      expect(await conforming(await req(upper, ctx.writer, { method: 'PUT', json: spec.put ?? spec.valid }), 'PUT', ITEM, 200)).toMatchObject({ id: made.id });
      expect((await req(`${upper}/metadata`, ctx.writer, { method: 'POST', json: { key: 'case', value: 'v' } })).status).toBe(201);
      expect((await conforming(await req(`${base(tm)}/${made.id}`, ctx.reader), 'GET', ITEM, 200)).metadata).toEqual([{ key: 'case', value: 'v' }]);
      expect((await req(upper, deleter, { method: 'DELETE' })).status).toBe(204);
      expect((await req(`${base(tm)}/${made.id}`, ctx.reader)).status).toBe(404);
      if (spec.bulk?.update) {
        // A bulk PUT naming a new child in upper case, then in lower case, makes one child.
        const fresh = '0190B000-0000-7000-8000-00000000CAFE';
        const first = await conforming(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'PUT', json: [{ ...spec.replacement, id: fresh }] }), 'PUT', `${P}/bulk`, spec.bulk.update) as unknown as Body[];
        expect(first.map((c) => c.id)).toEqual([fresh.toLowerCase()]);
        await conforming(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'PUT', json: [{ ...spec.replacement, id: fresh.toLowerCase() }] }), 'PUT', `${P}/bulk`, spec.bulk.update);
        expect((await ctx.counts(tm))[spec.count]).toBe(1);
        await refused(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'PUT', json: [{ ...spec.replacement, id: fresh }, { ...spec.replacement, id: fresh.toLowerCase() }] }), 'PUT', `${P}/bulk`, 400);
      }
    });

    it('refuses bad input with 400 and the contract\'s error body, writing nothing', async () => {
      const tm = await ctx.threatModel();
      const made = await create(tm);
      const before = await eventCount(ctx.app);
      for (const body of [spec.invalid, {}, { ...spec.valid, no_such_member: 1 }, { ...spec.valid, alias: 5 }]) {
        await conforming(await req(base(tm), ctx.writer, { method: 'POST', json: body }), 'POST', P, 400);
        await conforming(await req(`${base(tm)}/${made.id}`, ctx.writer, { method: 'PUT', json: body }), 'PUT', ITEM, 400);
      }
      await refused(await req(base(tm), ctx.reader, { method: 'POST', json: spec.valid }), 'POST', P, 403);
      await refused(await req(`${base(tm)}?limit=0`, ctx.reader), 'GET', P, 400);
      expect(await eventCount(ctx.app)).toBe(before);
      expect((await ctx.counts(tm))[spec.count]).toBe(1);
    });

    it('lists a page with limit, offset and total in the contract\'s list item shape, through the parent\'s gate', async () => {
      const tm = await ctx.threatModel();
      const made = [await create(tm), await create(tm), await create(tm)];
      const page = await conforming(await req(`${base(tm)}?limit=2`, ctx.reader), 'GET', P, 200);
      expect(page).toMatchObject({ total: 3, limit: 2, offset: 0 });
      // Newest first.
      expect((page[spec.plural] as Body[]).map((i) => i.id)).toEqual([made[2]!.id, made[1]!.id]);
      const rest = await conforming(await req(`${base(tm)}?limit=2&offset=2`, ctx.reader), 'GET', P, 200);
      expect((rest[spec.plural] as Body[]).map((i) => i.id)).toEqual([made[0]!.id]);
      expect(rest.total).toBe(3);
      const item = (rest[spec.plural] as Body[])[0]!;
      for (const member of spec.listOmits ?? []) {
        expect(made[0]).toHaveProperty(member);
        expect(item).not.toHaveProperty(member);
      }
      await refused(await req(`${base(tm)}?include_deleted=true`, ctx.reader), 'GET', P, 403);
      // A child is reached only through its own parent.
      const other = await ctx.threatModel('Another');
      await refused(await req(`${base(other)}/${made[0]!.id}`, ctx.reader), 'GET', ITEM, 404);
      await refused(await req(`${base(other)}/${made[0]!.id}`, spec.deleteRole === 'owner' ? ctx.owner : ctx.writer, { method: 'DELETE' }), 'DELETE', ITEM, 404);
      const stranger = signIn(ctx.app, 'stan');
      await refused(await req(base(tm), stranger), 'GET', P, 403);
    });

    it('serves its metadata through the shared metadata routes', async () => {
      const tm = await ctx.threatModel();
      const made = await create(tm);
      const meta = `${base(tm)}/${made.id}/metadata`;
      const M = `${ITEM}/metadata`;
      expect(await conforming(await req(meta, ctx.writer, { method: 'POST', json: { key: 'k', value: 'v' } }), 'POST', M, 201)).toEqual({ key: 'k', value: 'v' });
      await refused(await req(meta, ctx.reader, { method: 'POST', json: { key: 'k2', value: 'v' } }), 'POST', M, 403);
      expect(await conforming(await req(`${meta}/k`, ctx.reader), 'GET', `${M}/{key}`, 200)).toEqual({ key: 'k', value: 'v' });
      expect(await conforming(await req(`${meta}/k`, ctx.writer, { method: 'PUT', json: metadataReplacement(`${M}/{key}`, 'k', 'w') }), 'PUT', `${M}/{key}`, 200)).toEqual({ key: 'k', value: 'w' });
      expect(await conforming(await req(`${meta}/bulk`, ctx.writer, { method: 'POST', json: [{ key: 'b', value: '2' }] }), 'POST', `${M}/bulk`, 201)).toEqual([{ key: 'b', value: '2' }]);
      expect(await conforming(await req(`${meta}/bulk`, ctx.writer, { method: 'PATCH', json: [{ key: 'c', value: '3' }] }), 'PATCH', `${M}/bulk`, 200)).toHaveLength(3);
      expect(await conforming(await req(`${meta}/bulk`, ctx.writer, { method: 'PUT', json: [{ key: 'a', value: '1' }] }), 'PUT', `${M}/bulk`, 200)).toEqual([{ key: 'a', value: '1' }]);
      await conforming(await req(`${meta}/a`, ctx.writer, { method: 'DELETE' }), 'DELETE', `${M}/{key}`, 204);
      expect(await conforming(await req(meta, ctx.reader), 'GET', M, 200)).toEqual([]);
      await refused(await req(`${meta}/a`, ctx.reader), 'GET', `${M}/{key}`, 404);
      const shown = await conforming(await req(`${base(tm)}/${made.id}`, ctx.reader), 'GET', ITEM, 200);
      expect(shown.metadata).toEqual([]);
    });

    const bulk = spec.bulk;
    if (!bulk) {
      it('has no bulk operations (the contract gives it none)', async () => {
        const tm = await ctx.threatModel();
        for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
          const res = await req(`${base(tm)}/bulk`, ctx.writer, { method, ...(method === 'DELETE' ? {} : { json: [spec.valid] }) });
          // `bulk` is then read as an item id, which is no uuid.
          await refused(res, method, ITEM, method === 'POST' ? 404 : 400);
        }
      });
      return;
    }

    it(`bulk operations take up to ${bulk.max} children, all or nothing`, async () => {
      const tm = await ctx.threatModel();
      const B = `${P}/bulk`;
      if (bulk.create) {
        const made = await conforming(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'POST', json: [spec.valid, spec.replacement] }), 'POST', B, bulk.create) as unknown as Body[];
        expect(made).toHaveLength(2);
        expect(new Set(made.map((m) => m.alias)).size).toBe(2);
        expect((await ctx.counts(tm))[spec.count]).toBe(2);
        const before = await eventCount(ctx.app);
        await refused(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'POST', json: Array.from({ length: bulk.max + 1 }, () => spec.valid) }), 'POST', B, 400);
        await refused(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'POST', json: [spec.valid, spec.invalid] }), 'POST', B, 400);
        await refused(await req(`${base(tm)}/bulk`, ctx.reader, { method: 'POST', json: [spec.valid] }), 'POST', B, 403);
        expect(await eventCount(ctx.app)).toBe(before);
        // The largest bulk the contract allows is one command.
        const most = await conforming(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'POST', json: Array.from({ length: bulk.max }, () => spec.valid) }), 'POST', B, bulk.create);
        expect(most).toHaveLength(bulk.max);
        expect((await ctx.counts(tm))[spec.count]).toBe(2 + bulk.max);
      }
      if (bulk.update) {
        const existing = await create(tm);
        const before = (await ctx.counts(tm))[spec.count];
        const fresh = '0190b000-0000-7000-8000-00000000f00d';
        const upserted = await conforming(await req(`${base(tm)}/bulk`, ctx.writer, {
          method: 'PUT', json: [{ ...spec.replacement, id: existing.id }, { ...spec.replacement, id: fresh }],
        }), 'PUT', B, bulk.update) as unknown as Body[];
        expect(upserted.map((u) => u.id)).toEqual([existing.id, fresh]);
        expect(upserted[0]).toMatchObject({ alias: existing.alias });
        expect((await ctx.counts(tm))[spec.count]).toBe(before + 1);
        const at = await eventCount(ctx.app);
        await refused(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'PUT', json: [{ ...spec.replacement, id: existing.id }, { ...spec.invalid, id: fresh }] }), 'PUT', B, 400);
        await refused(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'PUT', json: [{ ...spec.replacement, id: fresh }, { ...spec.replacement, id: fresh }] }), 'PUT', B, 400);
        expect(await eventCount(ctx.app)).toBe(at);

        // Replayed by its Idempotency-Key, a bulk update answers every item as the original did, no-ops included.
        const again = '0190b000-0000-7000-8000-00000000beef';
        const once = { method: 'PUT', headers: { 'idempotency-key': `bulk-${spec.plural}` }, json: [{ ...spec.replacement, id: existing.id }, { ...spec.replacement, id: again }] };
        const original = await conforming(await req(`${base(tm)}/bulk`, ctx.writer, once), 'PUT', B, bulk.update) as unknown as Body[];
        const replay = await req(`${base(tm)}/bulk`, ctx.writer, once);
        expect(replay.status).toBe(bulk.update);
        expect(await json(replay)).toEqual(original);
        expect(original.map((u) => u.id)).toEqual([existing.id, again]);
      }
      if (bulk.patch) {
        const [a, b] = [await create(tm), await create(tm)];
        const one = (id: unknown, operations: PatchOperation[]) => ({ id, operations });
        // One bad patch refuses the whole bulk.
        const at = await eventCount(ctx.app);
        await refused(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'PATCH', json: { patches: [one(a.id, spec.patch.operations), one(b.id, [{ op: 'replace', path: '/alias', value: 1 }])] } }), 'PATCH', B, 400);
        expect(await eventCount(ctx.app)).toBe(at);
        const patched = await conforming(await req(`${base(tm)}/bulk`, ctx.writer, { method: 'PATCH', json: { patches: [one(a.id, spec.patch.operations), one(b.id, spec.patch.operations)] } }), 'PATCH', B, 200);
        expect(patched).toEqual([expect.objectContaining(spec.patch.shows), expect.objectContaining(spec.patch.shows)]);
      }
      if (bulk.delete) {
        const [a, b] = [await create(tm), await create(tm)];
        const before = (await ctx.counts(tm))[spec.count];
        const idsParam = `${spec.plural.replace(/s$/, '')}_ids`;
        const deleted = await conforming(await req(`${base(tm)}/bulk?${idsParam}=${a.id},${b.id}`, ctx.writer, { method: 'DELETE' }), 'DELETE', B, 200);
        expect(deleted).toEqual({ deleted_count: 2, deleted_ids: [a.id, b.id] });
        expect((await ctx.counts(tm))[spec.count]).toBe(before - 2);
      }
    });
  });
}
