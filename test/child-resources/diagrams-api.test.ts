import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { assertConforms, assertContractMembers } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { eventCount } from '../threat-models/helpers.js';
import { diagramsSpec } from './kinds.js';
import { describeChildResource, type ChildResourceContext } from './suite.js';

const ITEM = '/threat_models/{threat_model_id}/diagrams/{diagram_id}';
const MODEL = `${ITEM}/model`;
const id = (n: number) => `0190b000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;
const node = (n: number, more: Record<string, unknown> = {}) => ({ id: id(n), shape: 'process', x: 10 * n, y: 20, width: 80, height: 40, ...more });
const flow = (n: number, from: number, to: number, more: Record<string, unknown> = {}) => ({ id: id(n), shape: 'flow', source: { cell: id(from) }, target: { cell: id(to) }, ...more });
const patch = (operations: unknown[], ifMatch?: string) => ({
  method: 'PATCH', headers: { 'content-type': 'application/json-patch+json', ...(ifMatch ? { 'if-match': ifMatch } : {}) }, body: JSON.stringify(operations),
});

async function newDiagram(ctx: ChildResourceContext) {
  const { tm, path, post } = await ctx.collection('diagrams');
  const created = await json(await post({ name: 'DFD', type: 'DFD-1.0.0' }));
  return { tm, path: `${path}/${created.id}`, created };
}

describeChildResource(diagramsSpec, (ctx) => {
  const put = (path: string, cells: unknown[], extra: Record<string, unknown> = {}) =>
    ctx.app.request(path, { method: 'PUT', token: ctx.writer.token, json: { name: 'DFD', type: 'DFD-1.0.0', cells, ...extra } });

  it('takes a node\'s geometry as position/size or flat, answers it flat, and keeps cell data but not members the contract lacks', async () => {
    const { path } = await newDiagram(ctx);
    const res = await put(path, [
      { id: id(1), shape: 'actor', position: { x: 5, y: 6 }, size: { width: 50, height: 35 }, zIndex: 3, data: { _metadata: [{ key: 'k', value: 'v' }], team: 'payments' } },
      node(2),
      { id: id(3), shape: 'store' },
    ]);
    expect(res.status).toBe(200);
    const body = await json(res);
    assertConforms('PUT', ITEM, 200, body);
    assertContractMembers('PUT', ITEM, 200, body);
    expect(body.cells).toEqual([
      { id: id(1), shape: 'actor', x: 5, y: 6, width: 50, height: 35, data: { _metadata: [{ key: 'k', value: 'v' }], team: 'payments' } },
      node(2),
      // No geometry given: the origin and the contract's smallest size.
      { id: id(3), shape: 'store', x: 0, y: 0, width: 40, height: 30 },
    ]);
    expect(await json(await ctx.app.request(path, { token: ctx.reader.token }))).toEqual(body);
  });

  it('takes metadata values of up to 1024 characters on PUT …/metadata/{key}, as the contract gives diagrams (1000 elsewhere)', async () => {
    const { path } = await newDiagram(ctx);
    expect((await ctx.app.request(`${path}/metadata`, { method: 'POST', token: ctx.writer.token, json: { key: 'long', value: 'short' } })).status).toBe(201);
    const putValue = (value: string) => ctx.app.request(`${path}/metadata/long`, { method: 'PUT', token: ctx.writer.token, json: { value } });
    const longest = await putValue('v'.repeat(1024));
    expect(longest.status).toBe(200);
    expect(await json(longest)).toEqual({ key: 'long', value: 'v'.repeat(1024) });
    const before = await eventCount(ctx.app);
    expect((await putValue('v'.repeat(1025))).status).toBe(400);
    expect(await eventCount(ctx.app)).toBe(before);
  });

  it('refuses cells that do not make a diagram — edges to nothing or to an edge, repeated ids, a parent not in it, bad geometry — and writes nothing', async () => {
    const { path, created } = await newDiagram(ctx);
    const before = await eventCount(ctx.app);
    const bad: unknown[][] = [
      [node(1), flow(2, 1, 9)],
      [node(1), node(3), flow(2, 1, 3), flow(4, 1, 2)],
      [node(1), node(1)],
      [node(1, { parent: id(8) })],
      [node(1, { parent: id(1) })],
      [node(1, { children: [id(7)] })],
      [node(1, { width: 10 })],
      [{ id: id(1), shape: 'cloud', x: 0, y: 0 }],
      [{ id: 'not-a-uuid', shape: 'process' }],
      [flow(2, 1, 1)],
    ];
    for (const cells of bad) {
      const res = await put(path, cells);
      expect(res.status, JSON.stringify(cells)).toBe(400);
      expect(await json(res)).toMatchObject({ error: 'invalid_input', error_description: expect.any(String) });
    }
    // The same rules hold for a patch: an edge whose source goes away with its node is refused.
    expect((await put(path, [node(1), node(3), flow(2, 1, 3)])).status).toBe(200);
    const at = await eventCount(ctx.app);
    expect(at).toBe(before + 1);
    const res = await ctx.app.request(path, { ...patch([{ op: 'remove', path: '/cells/0' }]), token: ctx.writer.token });
    expect(res.status).toBe(400);
    expect(await eventCount(ctx.app)).toBe(at);
    expect(created.update_vector).toBe(1);
  });

  it('moves update_vector with every change of its cells, and only then; the ETag follows it', async () => {
    const { path, created } = await newDiagram(ctx);
    const seen = [created.update_vector as number];
    let res = await put(path, [node(1), node(2)]);
    seen.push((await json(res)).update_vector);
    res = await ctx.app.request(path, { ...patch([{ op: 'add', path: '/cells/-', value: flow(3, 1, 2) }], `"${seen.at(-1)}"`), token: ctx.writer.token });
    const patched = await json(res);
    seen.push(patched.update_vector);
    expect(res.headers.get('etag')).toBe(`"${patched.update_vector}"`);
    res = await ctx.app.request(path, { ...patch([{ op: 'replace', path: '/cells/0/x', value: 99 }]), token: ctx.writer.token });
    seen.push((await json(res)).update_vector);
    // A replacement that changes nothing appends nothing and keeps the vector.
    const same = await json(await ctx.app.request(path, { token: ctx.reader.token }));
    const before = await eventCount(ctx.app);
    res = await put(path, same.cells, { color_palette: undefined });
    expect((await json(res)).update_vector).toBe(seen.at(-1));
    expect(await eventCount(ctx.app)).toBe(before);
    expect(seen).toEqual([1, 2, 3, 4]);
    // A stale vector is a stale version: refused, nothing changes.
    res = await ctx.app.request(path, { ...patch([{ op: 'replace', path: '/cells/0/x', value: 1 }], '"2"'), token: ctx.writer.token });
    expect(res.status).toBe(409);
  });

  it('stores palette colours as lowercase #rrggbb and refuses a position used twice', async () => {
    const { path } = await newDiagram(ctx);
    const body = await json(await put(path, [], { color_palette: [{ position: 1, color: '#AbC' }, { position: 2, color: '#00FF7f' }] }));
    expect(body.color_palette).toEqual([{ position: 1, color: '#aabbcc' }, { position: 2, color: '#00ff7f' }]);
    expect((await put(path, [], { color_palette: [{ position: 1, color: '#000' }, { position: 1, color: '#fff' }] })).status).toBe(400);
  });

  it('exports the minimal model as JSON, YAML or GraphML by Accept, with the assets its cells reference; 406 for anything else', async () => {
    const { tm, path } = await newDiagram(ctx);
    const asset = await json(await ctx.app.request(`/threat_models/${tm}/assets`, { method: 'POST', token: ctx.writer.token, json: { name: 'Cards', type: 'data' } }));
    const boundary = { id: id(1), shape: 'security-boundary', x: 0, y: 0, width: 400, height: 300, children: [id(2)] };
    const api = node(2, { parent: id(1), attrs: { text: { text: 'API' } }, data: { _metadata: [{ key: 'tier', value: 'web' }], data_assets: [asset.id] } });
    const label = { id: id(5), shape: 'text-box', x: 5, y: 5, width: 40, height: 30, parent: id(2), attrs: { text: { text: 'PCI scope' } } };
    const db = { id: id(3), shape: 'store', x: 200, y: 0, width: 80, height: 40, data: { security_boundary: true } };
    const edge = flow(4, 2, 3, { labels: [{ attrs: { text: { text: 'card <data> & "more"' } } }], source: { cell: id(2), port: 'right' } });
    expect((await put(path, [boundary, api, label, db, edge])).status).toBe(200);
    await ctx.app.request(`/threat_models/${tm}/metadata`, { method: 'POST', token: ctx.writer.token, json: { key: 'env', value: 'prod' } });
    const model = `${path}/model`;

    const res = await ctx.app.request(model, { token: ctx.reader.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await json(res);
    assertConforms('GET', MODEL, 200, body);
    assertContractMembers('GET', MODEL, 200, body);
    expect(body).toMatchObject({ id: tm, metadata: { env: 'prod' }, assets: [expect.objectContaining({ id: asset.id, name: 'Cards' })] });
    expect(body.cells).toEqual([
      { id: id(1), shape: 'security-boundary', parent: null, children: [id(2)], labels: [], metadata: {}, security_boundary: true },
      { id: id(2), shape: 'process', parent: id(1), children: [id(5)], labels: ['API', 'PCI scope'], metadata: { tier: 'web' }, security_boundary: false, data_asset_ids: [asset.id] },
      { id: id(5), shape: 'text-box', parent: id(2), children: [], labels: ['PCI scope'], metadata: {}, security_boundary: false },
      { id: id(3), shape: 'store', parent: null, children: [], labels: [], metadata: {}, security_boundary: true },
      { id: id(4), shape: 'flow', source: { cell: id(2), port: 'right' }, target: { cell: id(3) }, labels: ['card <data> & "more"'], metadata: {} },
    ]);

    const yaml = await ctx.app.request(model, { token: ctx.reader.token, headers: { accept: 'application/yaml' } });
    expect(yaml.status).toBe(200);
    expect(yaml.headers.get('content-type')).toMatch(/^application\/yaml/);
    expect(parseYaml(await yaml.text())).toEqual(body);

    const xml = await ctx.app.request(model, { token: ctx.reader.token, headers: { accept: 'text/html;q=0.9, application/graphml+xml' } });
    expect(xml.status).toBe(200);
    expect(xml.headers.get('content-type')).toMatch(/^application\/graphml\+xml/);
    const text = await xml.text();
    expect(XMLValidator.validate(text)).toBe(true);
    const graph = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name, _path, _leaf, attribute) => !attribute && ['node', 'edge', 'data', 'key'].includes(name) }).parse(text).graphml.graph;
    expect(graph.node.map((n: { id: string }) => n.id)).toEqual([id(1), id(2), id(5), id(3)]);
    expect(graph.edge).toEqual([expect.objectContaining({ id: id(4), source: id(2), target: id(3) })]);
    const labels = graph.edge[0].data.find((d: { key: string }) => d.key === 'labels');
    expect(JSON.parse(labels['#text'])).toEqual(['card <data> & "more"']);

    const refused = await ctx.app.request(model, { token: ctx.reader.token, headers: { accept: 'text/csv' } });
    expect(refused.status).toBe(406);
    expect(await json(refused)).toMatchObject({ error: 'not_acceptable' });
    const stranger = await ctx.app.request(model, { token: (await import('../threat-models/helpers.js')).signIn(ctx.app, 'sam').token });
    expect(stranger.status).toBe(403);
    await ctx.app.request(path, { method: 'DELETE', token: ctx.owner.token });
    expect((await ctx.app.request(model, { token: ctx.reader.token })).status).toBe(404);
  });
});
