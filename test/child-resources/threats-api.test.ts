import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { eventCount } from '../threat-models/helpers.js';
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

  it('refuses a null SSVC assessment or score, which the contract does not admit; its nullable members still take null (whole-API fuzzing finding)', async () => {
    const { app, owner } = ctx;
    const tm = await ctx.threatModel();
    const created = await app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, json: { name: 'Assessed', threat_type: [] } });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    const before = await eventCount(app);
    for (const member of ['ssvc', 'score']) {
      const threat = { name: 'Assessed', threat_type: [], [member]: null };
      for (const [method, path, body] of [
        ['POST', `/threat_models/${tm}/threats`, threat],
        ['PUT', `/threat_models/${tm}/threats/${id}`, threat],
        ['POST', `/threat_models/${tm}/threats/bulk`, [threat]],
        ['PUT', `/threat_models/${tm}/threats/bulk`, [{ id, ...threat }]],
      ] as const) {
        const res = await app.request(path, { method, token: owner.token, json: body });
        expect(res.status, `${method} ${path} ${member}`).toBe(400);
        const error = await json(res);
        expect(error).toMatchObject({ error: 'invalid_input' });
        expect(error.error_description, `${method} ${path}`).toMatch(new RegExp(member));
      }
    }
    expect(await eventCount(app)).toBe(before);
    const res = await app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, json: { name: 'Nulls', threat_type: [], description: null, mitigation: null, severity: null } });
    expect(res.status).toBe(201);
    const threat = await json(res);
    assertConforms('POST', P, 201, threat);
    expect(threat).not.toHaveProperty('description');
  });

  it('takes scores of one decimal place exactly, refusing the near ones (whole-API fuzzing finding)', async () => {
    const { app, owner } = ctx;
    const tm = await ctx.threatModel();
    const vector = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H';
    const threat = (score: number, cvssScore: number) => ({ name: 'Scored', threat_type: [], score, cvss: [{ vector, score: cvssScore }] });
    // Within the old check's 1e-6 of a multiple of 0.1, but not one: answered back as given, the contract refused them.
    for (const near of [0.10000001, 1.2138573675039257e-198, 9.8000001]) {
      const before = await eventCount(app);
      for (const [method, path, body] of [
        ['POST', `/threat_models/${tm}/threats`, threat(near, 5)],
        ['POST', `/threat_models/${tm}/threats`, threat(5, near)],
        ['POST', `/threat_models/${tm}/threats/bulk`, [threat(5, 5), threat(5, near)]],
        ['PUT', `/threat_models/${tm}/threats/bulk`, [{ id: randomUUID(), ...threat(5, near) }]],
      ] as const) {
        const res = await app.request(path, { method, token: owner.token, json: body });
        expect(res.status, `${method} ${path} ${near}`).toBe(400);
        expect(await json(res)).toEqual(expect.objectContaining({ error: 'invalid_input', error_description: expect.stringContaining('decimal') }));
      }
      expect(await eventCount(app)).toBe(before);
    }
    const res = await app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, json: threat(0.3, 9.8) });
    expect(res.status).toBe(201);
    const created = await json(res);
    assertConforms('POST', P, 201, created);
    expect(created).toMatchObject({ score: 0.3, cvss: [{ vector, score: 9.8 }] });
  });
});
