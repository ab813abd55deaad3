import { expect, it } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { eventCount } from '../threat-models/helpers.js';
import { assetsSpec } from './kinds.js';
import { describeChildResource } from './suite.js';

describeChildResource(assetsSpec, (ctx) => {
  it('takes the contract\'s asset types and up to 50 classification tags', async () => {
    const { post } = await ctx.collection('assets');
    const before = await eventCount(ctx.app);
    expect((await post({ name: 'a' })).status).toBe(400);
    expect((await post({ name: 'a', type: 'Data' })).status).toBe(400);
    expect((await post({ name: 'a', type: 'data', classification: Array.from({ length: 51 }, (_, i) => `t${i}`) })).status).toBe(400);
    expect((await post({ name: 'a', type: 'data', criticality: 'x'.repeat(129) })).status).toBe(400);
    expect(await eventCount(ctx.app)).toBe(before);
    for (const type of ['data', 'hardware', 'software', 'infrastructure', 'service', 'personnel']) {
      expect((await post({ name: type, type })).status).toBe(201);
    }
    const tagged = await json(await post({ name: 'tagged', type: 'data', classification: [], sensitivity: null }));
    expect(tagged.classification).toEqual([]);
    expect(tagged).not.toHaveProperty('sensitivity');
  });

  it('replaces a metadata value by key with the contract\'s whole Metadata entry: without its key, or naming another, it is refused (whole-API fuzzing finding)', async () => {
    const { path, post } = await ctx.collection('assets');
    const created = await post({ name: 'keyed', type: 'data', metadata: [{ key: 'env', value: 'test' }] });
    expect(created.status).toBe(201);
    const entry = `${path}/${(await json(created)).id}/metadata`;
    const template = '/threat_models/{threat_model_id}/assets/{asset_id}/metadata/{key}';
    const put = (body: unknown) => ctx.app.request(`${entry}/env`, { method: 'PUT', token: ctx.writer.token, json: body });
    const before = await eventCount(ctx.app);
    for (const [body, reason] of [[{ value: 'prod' }, /key/], [{ key: 'region', value: 'prod' }, /"region" is not the path's key "env"/]] as const) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = await json(res);
      assertConforms('PUT', template, 400, error);
      expect(error.error_description).toMatch(reason);
    }
    expect(await eventCount(ctx.app)).toBe(before);
    expect(await json(await ctx.app.request(entry, { token: ctx.writer.token }))).toEqual([{ key: 'env', value: 'test' }]);
    const res = await put({ key: 'env', value: 'prod' });
    expect(res.status).toBe(200);
    const replaced = await json(res);
    assertConforms('PUT', template, 200, replaced);
    expect(replaced).toEqual({ key: 'env', value: 'prod' });
    expect(await json(await ctx.app.request(entry, { token: ctx.writer.token }))).toEqual([{ key: 'env', value: 'prod' }]);
  });
});
