import { expect } from 'vitest';
import { json, type TestApp } from '../helpers/app.js';
import { KIND_SPECS } from '../child-resources/kinds.js';

/** POSTs and returns the created body, failing the test on anything but 201. */
export async function created(app: TestApp, path: string, token: string, body: unknown): Promise<{ id: string } & Record<string, unknown>> {
  const res = await app.request(path, { method: 'POST', token, json: body });
  expect(res.status, `${path}: ${res.status}`).toBe(201);
  return json(res);
}

/** A threat model with one child of every kind, metadata on itself and on its threat; returns its id and its children's ids by kind. */
export async function populatedThreatModel(app: TestApp, token: string, extra: Record<string, unknown> = {}): Promise<{ id: string; children: Record<string, string> }> {
  const tm = await created(app, '/threat_models', token, { name: `tm ${Math.random()}`, ...extra });
  const children: Record<string, string> = {};
  for (const { plural, valid } of KIND_SPECS) children[plural] = (await created(app, `/threat_models/${tm.id}/${plural}`, token, valid)).id;
  await created(app, `/threat_models/${tm.id}/metadata`, token, { key: 'owner-team', value: 'payments' });
  await created(app, `/threat_models/${tm.id}/threats/${children.threats}/metadata`, token, { key: 'ticket', value: 'SEC-1' });
  return { id: tm.id, children };
}

export interface FeedEvent { position: number; stream_id: string; type: string; data: unknown; metadata: { actor: { user_id: string | null } }; created_at: string }

/** Every page of a feed from the start, following its cursor. */
export async function allPages(app: TestApp, path: string, token: string, limit: number): Promise<FeedEvent[]> {
  const out: FeedEvent[] = [];
  const sep = path.includes('?') ? '&' : '?';
  for (let after = 0; ;) {
    const res = await app.request(`${path}${sep}after=${after}&limit=${limit}`, { token });
    expect(res.status).toBe(200);
    const page = await json(res);
    out.push(...page.events);
    expect(page.next_after).toBe(page.events.at(-1)?.position ?? after);
    if (!page.has_more) return out;
    after = page.next_after;
  }
}

/** The whole feed as NDJSON. */
export async function ndjson(app: TestApp, path: string, token: string): Promise<FeedEvent[]> {
  const res = await app.request(path, { token, headers: { accept: 'application/x-ndjson' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  const text = await res.text();
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as FeedEvent);
}
