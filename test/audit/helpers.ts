import { expect } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signIn, type Who } from '../threat-models/helpers.js';

/** A test app and the four people the audit tests share threat models between (the owner is alice). */
export async function auditApp(): Promise<{ app: TestApp; alice: Who; bob: Who; carol: Who; dave: Who }> {
  const app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
  return { app, alice: signIn(app, 'alice'), bob: signIn(app, 'bob'), carol: signIn(app, 'carol'), dave: signIn(app, 'dave') };
}

export const TRAIL = '/threat_models/{threat_model_id}/audit_trail';
export const ENTRY = `${TRAIL}/{entry_id}`;
export const ROLLBACK = `${ENTRY}/rollback`;

export interface Call { method?: string; who?: Who; json?: unknown; body?: string; headers?: Record<string, string> }

/**
 * Calls a route, checks the status and that the body is the contract's for it (ajv against the
 * operation's schema), and returns the body and the answer's event position.
 */
export async function conforming(app: TestApp, template: string, path: string, status: number, init: Call = {}) {
  const res = await app.request(path, { method: init.method ?? 'GET', token: init.who?.token, json: init.json, body: init.body, headers: init.headers });
  const text = await res.text();
  expect(res.status, `${init.method ?? 'GET'} ${path}: ${text}`).toBe(status);
  const body = text ? JSON.parse(text) : null;
  assertConforms(init.method ?? 'GET', template, status, body);
  return { body, position: res.headers.get('x-event-position') };
}

/** A write whose answer's position the next trail read waits for. */
export async function write(app: TestApp, path: string, init: Call & { method: string }): Promise<{ body: unknown; position: string }> {
  const res = await app.request(path, { method: init.method, token: init.who?.token, json: init.json, body: init.body, headers: init.headers });
  const text = await res.text();
  expect(res.status, `${init.method} ${path}: ${text}`).toBeLessThan(300);
  return { body: text ? JSON.parse(text) : null, position: res.headers.get('x-event-position')! };
}

export const patchJson = (operations: unknown) => ({ headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(operations) });

/** The threat model's whole trail (every page), newest first, once the trail shows `position`. */
export async function wholeTrail(app: TestApp, who: Who, threatModelId: string, position: string | number, query = '') {
  const entries: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams(query);
    q.set('limit', '100');
    if (cursor) q.set('cursor', cursor);
    const { body } = await conforming(app, TRAIL, `/threat_models/${threatModelId}/audit_trail?${q}`, 200, { who, headers: { 'x-min-position': String(position) } });
    entries.push(...body.audit_entries);
    cursor = body.next_cursor;
  } while (cursor);
  return entries;
}
