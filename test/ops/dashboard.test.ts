import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signIn } from '../threat-models/helpers.js';

/** The Grafana dashboard in docs/ charts exactly what /metrics exports: a renamed metric fails here, not on someone's wall. */
const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
const HISTOGRAM_SERIES = /_(bucket|count|sum)$/;
// What operators must be able to see (issue 12): each family is charted.
const REQUIRED = ['tmi_http_request_duration_seconds', 'tmi_commands_total', 'tmi_projection_lag_seconds', 'tmi_projection_dead_letters', 'tmi_realtime_connections', 'tmi_realtime_messages_total', 'tmi_queue_jobs'];

describe('the Grafana dashboard', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp(); });
  afterAll(async () => { await app?.stop(); });

  it('uses only metric names /metrics exports, and charts every family operators need', async () => {
    const charted = new Map<string, string>();
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) for (const [name] of expr.matchAll(/\btmi_[a-z0-9_]+/g)) charted.set(name, panel.title);
    }
    // Activity first, so counters with labels have series (a command, a refused one, a request).
    const alice = signIn(app, 'alice');
    const created = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Charted' } });
    expect(created.status).toBe(201);
    const stale = await app.request(`/threat_models/${(await created.json() as { id: string }).id}`, {
      method: 'PATCH', token: alice.token, headers: { 'content-type': 'application/json-patch+json', 'if-match': '"7"' }, body: JSON.stringify([{ op: 'replace', path: '/name', value: 'Late' }]),
    });
    expect(stale.status).toBe(409);
    const text = await (await app.request('/metrics')).text();
    const exported = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    for (const [name, title] of charted) {
      const family = exported.has(name) ? name : name.replace(HISTOGRAM_SERIES, '');
      expect(exported.has(family), `"${title}" charts ${name}, which /metrics does not export`).toBe(true);
      if (family !== name) expect(exported.get(family), `${name} is a histogram series`).toBe('histogram');
    }
    const families = new Set([...charted.keys()].map((n) => (exported.has(n) ? n : n.replace(HISTOGRAM_SERIES, ''))));
    for (const name of REQUIRED) expect(families.has(name), `the dashboard does not chart ${name}`).toBe(true);
    expect(text).toMatch(/tmi_commands_total\{stream_type="threat_model",outcome="accepted"\} [1-9]/);
    expect(text).toMatch(/tmi_commands_total\{stream_type="threat_model",outcome="conflict"\} 1/);
    expect(text).toMatch(/tmi_queue_jobs\{queue="[^"]+",state="waiting"\} \d+/);
  });
});
