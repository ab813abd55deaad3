import { expect, it } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { threatsSpec } from './kinds.js';
import { describeChildResource } from './suite.js';

const P = '/threat_models/{threat_model_id}/threats';

describeChildResource(threatsSpec, (ctx) => {
  it('lists with the contract\'s filters and sort, and answers the reader', async () => {
    const { app, owner, reader } = ctx;
    const tm = await ctx.threatModel();
    const make = (name: string, extra: Record<string, unknown>) => app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, json: { name, threat_type: [], ...extra } });
    for (const [n, sev, score] of [['a', 'Low', 2], ['b', 'Critical', 9.1], ['c', 'critical', 7.5], ['d', 'Medium', 5]] as const) {
      expect((await make(`list-${n}`, { severity: sev, score })).status).toBe(201);
    }
    const res = await app.request(`/threat_models/${tm}/threats?severity=critical&sort=score:desc&name=list-`, { token: reader.token });
    expect(res.status).toBe(200);
    const list = await json(res);
    assertConforms('GET', P, 200, list);
    expect(list.threats.map((t: { name: string }) => t.name)).toEqual(['list-b', 'list-c']);
    expect(list.total).toBe(2);
    const bySeverity = await json(await app.request(`/threat_models/${tm}/threats?name=list-&sort=severity:desc,name:asc&limit=2`, { token: reader.token }));
    expect(bySeverity.threats.map((t: { name: string }) => t.name)).toEqual(['list-b', 'list-c']);
    expect(bySeverity.total).toBe(4);
    expect((await app.request(`/threat_models/${tm}/threats?sort=drop table`, { token: reader.token })).status).toBe(400);
    // Names every object has (Object.prototype's) are not sort fields either.
    for (const field of ['constructor', 'toString', '__proto__']) {
      expect((await app.request(`/threat_models/${tm}/threats?sort=${field}:asc`, { token: reader.token })).status).toBe(400);
    }
    expect((await app.request(`/threat_models/${tm}/threats?include_deleted=true`, { token: reader.token })).status).toBe(403);
  });
});
