import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertErrorBody, itemsOf, metadataReplacement, requestMembers } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { eventCount } from '../threat-models/helpers.js';
import { KIND_SPECS } from './kinds.js';
import { useChildResourceApp, type KindSpec } from './suite.js';

/**
 * Bad input to every child-resource route never gets past the door: for each member of each
 * request body the contract defines, values of the wrong type, out of range, too long, too many,
 * outside the enum or not of the format are sent through create, replace, patch and bulk; so are
 * malformed JSON, unknown and read-only members, and patches of read-only paths. Each answer is a
 * 4xx with the contract's error body and the event store is left exactly as it was. The bad values
 * come from the contract's schemas, so a limit the server forgets to enforce fails here.
 */
const RUNS = 40;
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Values a member with this schema must refuse. */
function badValues(schema: Json, name: string): fc.Arbitrary<unknown>[] {
  const wrongType: Record<string, fc.Arbitrary<unknown>[]> = {
    string: [fc.integer(), fc.boolean(), fc.constant({ a: 1 }), fc.constant(['x'])],
    number: [fc.string({ maxLength: 5 }), fc.boolean(), fc.constant([1]), fc.constant({})],
    integer: [fc.string({ maxLength: 5 }), fc.boolean(), fc.constant(1.5)],
    boolean: [fc.string({ maxLength: 5 }), fc.integer(), fc.constant({}), fc.constant([true])],
    array: [fc.string({ maxLength: 5 }), fc.integer(), fc.constant({})],
    object: [fc.string({ maxLength: 5 }), fc.integer(), fc.constant([]), fc.boolean()],
  };
  const out = [...(wrongType[schema.type] ?? [])];
  if (!schema.nullable) out.push(fc.constant(null));
  if (schema.type === 'string') {
    const filler = schema.format === 'uri' ? (n: number) => `https://x.example.com/${'a'.repeat(n - 22)}` : (n: number) => 'a'.repeat(n);
    if (schema.maxLength !== undefined) out.push(fc.integer({ min: schema.maxLength + 1, max: schema.maxLength + 200 }).map(filler));
    if (schema.minLength) out.push(fc.constant(''));
    if (schema.enum) out.push(fc.string({ maxLength: 12 }).filter((v) => !schema.enum.includes(v)));
    if (schema.format === 'uuid') out.push(fc.constantFrom('not-a-uuid', '0190b000-0000-7000-8000', '0190b000-0000-7000-8000-00000000000g'));
    if (schema.format === 'uri') out.push(fc.constantFrom('no scheme here', 'docs.example.com/x', '://x'));
    out.push(fc.constant('a\u0000b'));
  }
  if (schema.type === 'number' || schema.type === 'integer') {
    if (schema.minimum !== undefined) out.push(fc.integer({ min: 1, max: 1000 }).map((d) => schema.minimum - d));
    if (schema.maximum !== undefined) out.push(fc.integer({ min: 1, max: 1000 }).map((d) => schema.maximum + d));
  }
  if (schema.type === 'array') {
    const items = itemsOf(schema);
    const item = name === 'metadata' ? (i: number) => ({ key: `k${i}`, value: 'v' }) : items?.type === 'string' ? (i: number) => `x${i}` : null;
    // Arrays of 10,000 (cells, a diagram's metadata) are refused by the same check; one limit is enough to send.
    if (item && schema.maxItems !== undefined && schema.maxItems <= 1000) {
      out.push(fc.integer({ min: schema.maxItems + 1, max: schema.maxItems + 20 }).map((n) => Array.from({ length: n }, (_, i) => item(i))));
    }
    if (items?.type === 'string') out.push(fc.constant([1]), fc.constant([null]), fc.constant([{}]));
    if (items?.type === 'object' || items?.oneOf) out.push(fc.constant([1]), fc.constant(['x']), fc.constant([[]]));
  }
  return out;
}

/** A member of a body and a value it must refuse, from the contract's schema of that body. */
function badMember(members: ReturnType<typeof requestMembers>) {
  const cases = Object.entries(members.properties).flatMap(([name, schema]) => badValues(schema, name).map((value) => fc.record({ name: fc.constant(name), value })));
  return fc.oneof(...cases);
}

describe('bad input to child-resource routes', () => {
  const ctx = useChildResourceApp();
  let tm: string;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    tm = await ctx.threatModel('Bad input target');
    for (const spec of KIND_SPECS) {
      const res = await ctx.app.request(`/threat_models/${tm}/${spec.plural}`, { method: 'POST', token: ctx.owner.token, json: spec.valid });
      expect(res.status, `${spec.plural} ${JSON.stringify(await res.clone().json())}`).toBe(201);
      ids[spec.plural] = (await json(res)).id;
      const meta = await ctx.app.request(`/threat_models/${tm}/${spec.plural}/${ids[spec.plural]}/metadata`, { method: 'POST', token: ctx.owner.token, json: { key: 'seed', value: 's' } });
      expect(meta.status).toBe(201);
    }
  });

  /** Sends a raw body as the owner (who may do anything) and checks: 4xx, the error body, no new events. */
  async function refused(method: string, path: string, body: string, contentType = 'application/json') {
    const before = await eventCount(ctx.app);
    const res = await ctx.app.request(path, { method, token: ctx.owner.token, body, headers: { 'content-type': contentType } });
    const text = await res.text();
    expect(res.status, `${method} ${path} ${body.slice(0, 300)} → ${res.status} ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
    expect(res.status, `${method} ${path} ${body.slice(0, 300)} → ${text.slice(0, 300)}`).toBeLessThan(500);
    assertErrorBody(JSON.parse(text));
    expect(await eventCount(ctx.app), `${method} ${path} ${body.slice(0, 300)} appended`).toBe(before);
  }
  const patch = (path: string, operations: unknown) => refused('PATCH', path, JSON.stringify(operations), 'application/json-patch+json');

  for (const spec of KIND_SPECS) {
    describe(spec.plural, () => {
      const P = `/threat_models/{threat_model_id}/${spec.plural}`;
      const ITEM = `${P}/{${spec.idParam}}`;
      const collection = () => `/threat_models/${tm}/${spec.plural}`;
      const item = () => `${collection()}/${ids[spec.plural]}`;
      const putBody = spec.put ?? spec.replacement;
      const bulk = spec.bulk;

      it('refuses every member the contract limits, on create, replace, patch and bulk', async () => {
        await fc.assert(fc.asyncProperty(badMember(requestMembers('POST', P)), async ({ name, value }) => {
          await refused('POST', collection(), JSON.stringify({ ...spec.valid, [name]: value }));
        }), { numRuns: RUNS });
        await fc.assert(fc.asyncProperty(badMember(requestMembers('PUT', ITEM)), async ({ name, value }) => {
          await refused('PUT', item(), JSON.stringify({ ...putBody, [name]: value }));
          await patch(item(), [{ op: 'add', path: `/${name}`, value }]);
        }), { numRuns: RUNS });
        if (bulk?.create) {
          await fc.assert(fc.asyncProperty(badMember(requestMembers('POST', `${P}/bulk`)), async ({ name, value }) => {
            await refused('POST', `${collection()}/bulk`, JSON.stringify([spec.valid, { ...spec.valid, [name]: value }]));
          }), { numRuns: RUNS });
        }
        if (bulk?.update) {
          await fc.assert(fc.asyncProperty(badMember(requestMembers('PUT', `${P}/bulk`)), async ({ name, value }) => {
            await refused('PUT', `${collection()}/bulk`, JSON.stringify([{ ...spec.replacement, id: ids[spec.plural], [name]: value }]));
          }), { numRuns: RUNS });
        }
      });

      it('refuses malformed JSON and bodies of the wrong shape on every write route', async () => {
        const routes: [string, () => string, string?][] = [
          ['POST', collection], ['PUT', item], ['PATCH', item, 'application/json-patch+json'],
          ['POST', () => `${item()}/metadata`], ['PUT', () => `${item()}/metadata/seed`],
          ['POST', () => `${item()}/metadata/bulk`], ['PUT', () => `${item()}/metadata/bulk`], ['PATCH', () => `${item()}/metadata/bulk`],
          ...(bulk?.create ? [['POST', () => `${collection()}/bulk`] as [string, () => string]] : []),
          ...(bulk?.update ? [['PUT', () => `${collection()}/bulk`] as [string, () => string]] : []),
          ...(bulk?.patch ? [['PATCH', () => `${collection()}/bulk`] as [string, () => string]] : []),
        ];
        const malformed = fc.string({ maxLength: 40 }).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } });
        const wrongShape = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 10 })).map((v) => JSON.stringify(v));
        await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(malformed, wrongShape), async ([method, path, type], body) => {
          await refused(method, path(), body, type);
        }), { numRuns: RUNS });
        // The object routes refuse arrays, the array routes objects.
        await refused('POST', collection(), JSON.stringify([spec.valid]));
        await refused('PUT', item(), JSON.stringify([putBody]));
        await refused('POST', `${item()}/metadata/bulk`, JSON.stringify({ key: 'k', value: 'v' }));
        if (bulk?.create) await refused('POST', `${collection()}/bulk`, JSON.stringify(spec.valid));
      });

      it('refuses unknown and read-only members', async () => {
        const known = new Set([...Object.keys(requestMembers('POST', P).properties), ...Object.keys(requestMembers('PUT', ITEM).properties), 'id', '__proto__']);
        const unknown = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !known.has(k));
        await fc.assert(fc.asyncProperty(unknown, fc.jsonValue({ maxDepth: 2 }), async (key, value) => {
          await refused('POST', collection(), JSON.stringify({ ...spec.valid, [key]: value }));
          await refused('PUT', item(), JSON.stringify({ ...putBody, [key]: value }));
          await refused('POST', `${item()}/metadata`, JSON.stringify({ key: 'k', value: 'v', [key]: value }));
          if (bulk?.create) await refused('POST', `${collection()}/bulk`, JSON.stringify([{ ...spec.valid, [key]: value }]));
        }), { numRuns: RUNS / 4 });
        const readOnly = ['id', 'threat_model_id', 'created_at', 'modified_at', 'deleted_at', 'version', 'alias', 'update_vector'];
        for (const member of readOnly) {
          await refused('POST', collection(), JSON.stringify({ ...spec.valid, [member]: member === 'version' || member === 'alias' ? 3 : '2024-01-01T00:00:00Z' }));
          await refused('PUT', item(), JSON.stringify({ ...putBody, [member]: member === 'version' || member === 'alias' ? 3 : '2024-01-01T00:00:00Z' }));
        }
      });

      it('refuses patches of read-only or missing paths, bad operations and results the schema refuses', async () => {
        const required = requestMembers('PUT', ITEM).required;
        const badOperation = fc.oneof(
          fc.record({ op: fc.string({ maxLength: 8 }).filter((o) => !['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(o)), path: fc.constant('/name'), value: fc.constant('x') }),
          fc.record({ op: fc.constantFrom('add', 'replace', 'remove'), path: fc.constantFrom('/id', '/threat_model_id', '/created_at', '/modified_at', '/deleted_at', '/version', '/alias', '/update_vector', '/no_such_member', ''), value: fc.string({ maxLength: 5 }) }),
          fc.record({ op: fc.constant('remove'), path: fc.constantFrom(...required.map((r) => `/${r}`)) }),
          fc.record({ op: fc.constantFrom('remove', 'replace'), path: fc.constantFrom('/name/x', '/metadata/99', '/metadata/abc') }),
          fc.record({ op: fc.constantFrom('move', 'copy'), path: fc.constant('/name') }),
          fc.record({ op: fc.constant('move'), from: fc.constant('/id'), path: fc.constant('/name') }),
          fc.record({ op: fc.constant('test'), path: fc.constant('/name'), value: fc.constant('not the name') }),
          fc.record({ op: fc.constant('add'), path: fc.constant('/metadata/-'), value: fc.record({ key: fc.constantFrom('bad key', '', 'ü', 'a'.repeat(257)), value: fc.constant('v') }) }),
        );
        await fc.assert(fc.asyncProperty(fc.array(badOperation, { minLength: 1, maxLength: 3 }), async (operations) => {
          await patch(item(), operations);
        }), { numRuns: RUNS });
        await patch(item(), []);
        await patch(item(), { op: 'replace', path: '/name', value: 'x' });
        if (bulk?.patch) {
          await refused('PATCH', `${collection()}/bulk`, JSON.stringify({ patches: [{ id: ids[spec.plural], operations: [{ op: 'replace', path: '/id', value: 'x' }] }] }));
          await refused('PATCH', `${collection()}/bulk`, JSON.stringify({ patches: [{ id: 'not-a-uuid', operations: [{ op: 'replace', path: '/name', value: 'x' }] }] }));
        }
      });

      it('refuses bad metadata on its metadata routes', async () => {
        const metadata = requestMembers('POST', `${ITEM}/metadata`);
        const badEntry = fc.oneof(
          badMember(metadata).map(({ name, value }) => ({ key: 'k', value: 'v', [name]: value })),
          fc.constantFrom('bad key', 'ü', 'a/b c', 'tab\tkey').map((key) => ({ key, value: 'v' })),
        );
        await fc.assert(fc.asyncProperty(badEntry, fc.constantFrom('POST', 'PUT', 'PATCH'), async (entry, method) => {
          await refused('POST', `${item()}/metadata`, JSON.stringify(entry));
          await refused(method, `${item()}/metadata/bulk`, JSON.stringify([{ key: 'ok', value: 'v' }, entry]));
        }), { numRuns: RUNS });
        const value = requestMembers('PUT', `${ITEM}/metadata/{key}`).properties.value;
        // A line break, where the contract's value pattern refuses one (the assets' Metadata value has none).
        const lineBreak = value.pattern && !new RegExp(value.pattern, 'u').test('line\nbreak') ? [fc.constant('line\nbreak')] : [];
        await fc.assert(fc.asyncProperty(fc.oneof(...badValues(value, 'value'), ...lineBreak), async (bad) => {
          await refused('PUT', `${item()}/metadata/seed`, JSON.stringify(metadataReplacement(`${ITEM}/metadata/{key}`, 'seed', bad)));
        }), { numRuns: RUNS / 2 });
        await refused('POST', `${item()}/metadata/bulk`, JSON.stringify(Array.from({ length: 21 }, (_, i) => ({ key: `k${i}`, value: 'v' }))));
        await refused('POST', `${item()}/metadata/bulk`, JSON.stringify([{ key: 'twice', value: 'a' }, { key: 'twice', value: 'b' }]));
      });
    });
  }

  it('refuses unknown kinds of child and ids that are not UUIDs, writing nothing', async () => {
    const before = await eventCount(ctx.app);
    for (const spec of KIND_SPECS as KindSpec[]) {
      const res = await ctx.app.request(`/threat_models/${tm}/${spec.plural}/not-a-uuid`, { method: 'PUT', token: ctx.owner.token, json: spec.put ?? spec.replacement });
      expect(res.status, spec.plural).toBe(400);
      assertErrorBody(await json(res));
      // The kind's audit trail: a bad id or bad pagination.
      for (const path of [`not-a-uuid/audit_trail`, `${ids[spec.plural]}/audit_trail?limit=0`, `${ids[spec.plural]}/audit_trail?offset=-1`, `${ids[spec.plural]}/audit_trail?cursor=x`]) {
        const trail = await ctx.app.request(`/threat_models/${tm}/${spec.plural}/${path}`, { token: ctx.owner.token });
        expect(trail.status, `${spec.plural}/${path}`).toBe(400);
        assertErrorBody(await json(trail));
      }
    }
    const res = await ctx.app.request(`/threat_models/${tm}/widgets`, { method: 'POST', token: ctx.owner.token, json: { name: 'w' } });
    expect(res.status).toBe(404);
    expect(await eventCount(ctx.app)).toBe(before);
  });
});
