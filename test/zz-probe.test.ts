import { it } from 'vitest';
import { responseValidator } from './contract/contract.js';
import { json, startTestApp } from './helpers/app.js';
import { signIn } from './threat-models/helpers.js';
it('probe', async () => {
  const app = await startTestApp();
  const alice = signIn(app, 'alice');
  const tm = (await json(await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'P' } }))).id;
  const cases: [string, string, unknown][] = [
    ['POST', `/threat_models/${tm}/repositories/bulk`, [{ name: null, description: '', type: null, uri: 'https://x.example.com/a' }]],
    ['POST', `/threat_models/${tm}/repositories/bulk`, [{ name: 'n', description: 'd', type: null, uri: 'https://x.example.com/b', parameters: { refType: 'commit', refValue: 'h', subPath: 'F' }, metadata: null }]],
    ['POST', `/threat_models/${tm}/threats`, { name: 'T', threat_type: ['x'], diagram_id: '', cell_id: null, asset_id: null, severity: 'Bc', score: 9.999999999999995, mitigation: null }],
  ];
  for (const [m, p, body] of cases) {
    const res = await app.request(p, { method: m, token: alice.token, json: body });
    const b = await json(res);
    const template = p.replace(tm, '{threat_model_id}');
    const v = responseValidator(m, template, res.status);
    console.log('PROBE', m, template, res.status, v ? (v(b) ? 'ok' : JSON.stringify(v.errors).slice(0, 600)) : 'no schema', JSON.stringify(b).slice(0, 300));
  }
  await app.stop();
}, 120000);
