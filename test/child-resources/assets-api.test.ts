import { expect, it } from 'vitest';
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
});
