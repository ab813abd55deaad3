import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { groupEntry, signIn, userEntry, type Who } from './helpers.js';

/**
 * The unfiltered list pages by threat_model_readers (an index scan per subject key); any filter
 * takes the general query over the access table. Whatever mix of shares, access changes,
 * deletes and restores, both must give every caller the same pages and the same total.
 */
describe('GET /threat_models: the unfiltered page from the readers index equals the general query', () => {
  let app: TestApp;
  let people: Who[];
  beforeAll(async () => {
    app = await startTestApp();
    people = [signIn(app, 'lia'), signIn(app, 'leo', { groups: ['auditors'] }), signIn(app, 'lou', { groups: ['auditors', 'ops'] }), signIn(app, 'lex')];
  });
  afterAll(async () => { await app?.stop(); });

  const entryFor = (k: number) => [
    userEntry(people[k % people.length]!, ['reader', 'writer', 'owner'][k % 3]!),
    groupEntry(k % 2 === 0 ? 'auditors' : 'ops', 'reader'),
    groupEntry('everyone', 'reader'),
  ][k % 3]!;

  it('for random models, shares, access changes, deletes and restores', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ by: fc.nat(3), share: fc.array(fc.nat(11), { maxLength: 3 }), then: fc.constantFrom('keep', 'delete', 'restore', 'reshare') }), { minLength: 1, maxLength: 8 }),
      async (plan) => {
        for (const step of plan) {
          const owner = people[step.by]!;
          const created = await app.request('/threat_models', { method: 'POST', token: owner.token, json: { name: `m-${step.by}`, authorization: step.share.map(entryFor) } });
          if (created.status !== 201) continue; // e.g. two entries for one subject: refused, nothing written
          const model = await json(created);
          const path = `/threat_models/${model.id}`;
          if (step.then === 'delete' || step.then === 'restore') expect((await app.request(path, { method: 'DELETE', token: owner.token })).status).toBe(204);
          if (step.then === 'restore') expect((await app.request(`${path}/restore`, { method: 'POST', token: owner.token })).status).toBe(200);
          if (step.then === 'reshare') {
            const res = await app.request(path, { method: 'PATCH', token: owner.token, headers: { 'content-type': 'application/json-patch+json' },
              json: [{ op: 'replace', path: '/name', value: 'renamed' }, { op: 'add', path: '/authorization/-', value: groupEntry('ops', 'writer') }] });
            expect([200, 400, 409]).toContain(res.status);
          }
        }
        for (const who of people) {
          for (const [limit, offset] of [[3, 0], [3, 3], [50, 0], [5, 1000]]) {
            const fast = await json(await app.request(`/threat_models?limit=${limit}&offset=${offset}`, { token: who.token }));
            const general = await json(await app.request(`/threat_models?limit=${limit}&offset=${offset}&created_after=1970-01-01T00:00:00Z`, { token: who.token }));
            expect(fast.threat_models.map((t: { id: string }) => t.id)).toEqual(general.threat_models.map((t: { id: string }) => t.id));
            expect(fast.total).toBe(general.total);
          }
        }
      }), { numRuns: 12 });
  });

  it('folds subjects by the domain\'s rule: ids PostgreSQL\'s lower() folds differently neither halt the projections nor hide a model', async () => {
    // JavaScript folds "İ" to "i̇", PostgreSQL (C.UTF-8) to "i": to the domain these are two users.
    const dotted = signIn(app, 'İvy');
    const plain = signIn(app, 'ivy');
    const res = await app.request('/threat_models', {
      method: 'POST', token: people[0]!.token, json: { name: 'unicode', authorization: [userEntry(dotted, 'reader'), userEntry(plain, 'writer')] },
    });
    // 201, not 202: every projection shows the model (a halted one never would).
    expect(res.status).toBe(201);
    const { id } = await json(res);
    for (const who of [dotted, plain]) {
      for (const query of ['limit=50', 'limit=50&created_after=1970-01-01T00:00:00Z']) {
        const list = await json(await app.request(`/threat_models?${query}`, { token: who.token }));
        expect(list.threat_models.map((t: { id: string }) => t.id), `${who.name}: ${query}`).toContain(id);
      }
      expect((await app.request(`/threat_models/${id}`, { token: who.token })).status).toBe(200);
    }
  });
});
