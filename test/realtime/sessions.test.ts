import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authModule } from '../../src/auth/module.js';
import { WsTickets } from '../../src/realtime/tickets.js';
import { assertConforms, assertContractMembers, assertErrorBody } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventCount, signIn, userEntry, type Who } from '../threat-models/helpers.js';

/**
 * Collaboration sessions over REST, as TMI's web client uses them: start or join (201 / 200),
 * read, end, list one's sessions, and trade the bearer token for a WebSocket ticket. Every
 * answer is checked against the contract.
 */
const COLLABORATE = '/threat_models/{threat_model_id}/diagrams/{diagram_id}/collaborate';

describe('collaboration sessions', () => {
  let app: TestApp;
  let owner: Who, writer: Who, reader: Who, stranger: Who;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    owner = signIn(app, 'olga');
    writer = signIn(app, 'walt');
    reader = signIn(app, 'rita');
    stranger = signIn(app, 'sam');
  });
  afterAll(async () => { await app?.stop(); });

  const req = (path: string, who: Who, init: RequestInit & { json?: unknown } = {}) => app.request(path, { ...init, token: who.token });
  async function diagram(name = 'Sessions') {
    const tm = await req('/threat_models', owner, { method: 'POST', json: { name, authorization: [userEntry(writer, 'writer'), userEntry(reader, 'reader')] } });
    const tmId = (await json(tm)).id as string;
    const d = await req(`/threat_models/${tmId}/diagrams`, owner, { method: 'POST', json: { name: 'Context', type: 'DFD-1.0.0' } });
    expect(d.status).toBe(201);
    const dId = (await json(d)).id as string;
    return { tm: tmId, diagram: dId, path: `/threat_models/${tmId}/diagrams/${dId}/collaborate` };
  }
  async function answer(res: Response, method: string, status: number) {
    expect(res.status, `${method} collaborate`).toBe(status);
    const body = status === 204 ? null : await json(res);
    if (status >= 400) assertErrorBody(body);
    else {
      assertConforms(method, COLLABORATE, status, body);
      if (body) assertContractMembers(method, COLLABORATE, status, body);
    }
    return body;
  }

  it('starts a session with the caller as host and presenter (201); others join it (200)', async () => {
    const { tm, diagram: d, path } = await diagram();
    const started = await answer(await req(path, owner, { method: 'POST' }), 'POST', 201);
    expect(started).toMatchObject({
      threat_model_id: tm, threat_model_name: 'Sessions', diagram_id: d, diagram_name: 'Context',
      host: { provider_id: 'olga@tmi.local' }, presenter: { provider_id: 'olga@tmi.local' },
      participants: [{ user: { provider_id: 'olga@tmi.local' }, permissions: 'writer' }],
    });
    expect(started.websocket_url).toBe(`ws://${new URL(app.config.server.public_url).host}/threat_models/${tm}/diagrams/${d}/ws?session_id=${started.session_id}`);

    const joined = await answer(await req(path, writer, { method: 'POST' }), 'POST', 200);
    expect(joined.session_id).toBe(started.session_id);
    const withReader = await answer(await req(path, reader, { method: 'POST' }), 'POST', 200);
    expect(withReader.participants.map((p: { user: { provider_id: string }; permissions: string }) => [p.user.provider_id, p.permissions]))
      .toEqual([['olga@tmi.local', 'writer'], ['walt@tmi.local', 'writer'], ['rita@tmi.local', 'reader']]);

    // Joining again changes nothing and appends nothing.
    const before = await eventCount(app);
    expect((await answer(await req(path, writer, { method: 'POST' }), 'POST', 200)).participants).toHaveLength(3);
    expect(await eventCount(app)).toBe(before);

    const read = await answer(await req(path, reader), 'GET', 200);
    expect(read).toEqual(withReader);
  });

  it('answers Prefer: respond-async with 202 and the session as the command left it; an end with 202 and no body', async () => {
    const { tm, diagram: d, path } = await diagram('Async');
    const async = { prefer: 'respond-async' };
    const started = await req(path, owner, { method: 'POST', headers: async });
    expect(started.status).toBe(202);
    // The 202 carries the 201's body: the contract's CollaborationSession.
    const body = await json(started);
    assertConforms('POST', COLLABORATE, 201, body);
    expect(body).toMatchObject({ threat_model_id: tm, threat_model_name: 'Async', diagram_id: d, diagram_name: 'Context', participants: [{ permissions: 'writer' }] });
    const position = started.headers.get('x-event-position')!;
    const read = await answer(await req(path, owner, { headers: { 'x-min-position': position } }), 'GET', 200);
    expect(read).toEqual(body);

    const joined = await req(path, reader, { method: 'POST', headers: async });
    expect(joined.status).toBe(202);
    expect((await json(joined)).participants.map((p: { permissions: string }) => p.permissions)).toEqual(['writer', 'reader']);

    const ended = await req(path, owner, { method: 'DELETE', headers: async });
    expect(ended.status).toBe(202);
    expect(ended.headers.get('content-type')).toBeNull();
    expect(await ended.text()).toBe('');
  });

  it('keeps the session to those who can read the threat model', async () => {
    const { path } = await diagram('Private');
    await answer(await req(path, owner, { method: 'POST' }), 'POST', 201);
    const before = await eventCount(app);
    await answer(await req(path, stranger, { method: 'POST' }), 'POST', 403);
    await answer(await req(path, stranger), 'GET', 403);
    await answer(await req(path, stranger, { method: 'DELETE' }), 'DELETE', 403);
    expect((await app.request(path, { method: 'POST' })).status).toBe(401);
    expect(await eventCount(app)).toBe(before);
  });

  it('is ended by its host or the owner only, and a new one starts afterwards', async () => {
    const { path } = await diagram('Ending');
    const first = await answer(await req(path, writer, { method: 'POST' }), 'POST', 201);
    await answer(await req(path, reader, { method: 'POST' }), 'POST', 200);
    await answer(await req(path, reader, { method: 'DELETE' }), 'DELETE', 403);
    await answer(await req(path, writer, { method: 'DELETE' }), 'DELETE', 204);
    await answer(await req(path, writer), 'GET', 404);
    await answer(await req(path, writer, { method: 'DELETE' }), 'DELETE', 404);

    const second = await answer(await req(path, reader, { method: 'POST' }), 'POST', 201);
    expect(second.session_id).not.toBe(first.session_id);
    expect(second.participants).toEqual([expect.objectContaining({ permissions: 'reader' })]);
    // The owner ends a session someone else hosts.
    await answer(await req(path, owner, { method: 'DELETE' }), 'DELETE', 204);
    await answer(await req(path, owner), 'GET', 404);
  });

  it('gives one session to callers who start at the same moment', async () => {
    const { path } = await diagram('Race');
    const answers = await Promise.all([owner, writer, reader].map((who) => req(path, who, { method: 'POST' })));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 201]);
    const bodies = await Promise.all(answers.map(json));
    expect(new Set(bodies.map((b) => b.session_id)).size).toBe(1);
    const final = await answer(await req(path, owner), 'GET', 200);
    expect(final.participants).toHaveLength(3);
  });

  it('answers 404 for a diagram that does not exist, is deleted or is under another threat model', async () => {
    const { tm, diagram: d, path } = await diagram('Missing');
    const other = await diagram('Other');
    await answer(await req(`/threat_models/${tm}/diagrams/${other.diagram}/collaborate`, owner, { method: 'POST' }), 'POST', 404);
    await answer(await req(`/threat_models/${tm}/diagrams/0190a000-0000-7000-8000-00000000dead/collaborate`, owner, { method: 'POST' }), 'POST', 404);
    await answer(await req(path, owner, { method: 'POST' }), 'POST', 201);
    // A diagram in a live session is the session's: it is deleted once the session ends.
    expect((await req(`/threat_models/${tm}/diagrams/${d}`, owner, { method: 'DELETE' })).status).toBe(409);
    await answer(await req(path, owner, { method: 'DELETE' }), 'DELETE', 204);
    expect((await req(`/threat_models/${tm}/diagrams/${d}`, owner, { method: 'DELETE' })).status).toBe(204);
    await answer(await req(path, owner), 'GET', 404);
    await answer(await req(path, writer, { method: 'POST' }), 'POST', 404);
    expect((await req(`/threat_models/${tm}/diagrams/not-a-uuid/collaborate`, owner, { method: 'POST' })).status).toBe(400);
  });

  it('lists the caller\'s readable active sessions at /me/sessions', async () => {
    const a = await diagram('Listed A');
    const b = await diagram('Listed B');
    const sa = await answer(await req(a.path, owner, { method: 'POST' }), 'POST', 201);
    const sb = await answer(await req(b.path, writer, { method: 'POST' }), 'POST', 201);
    const listed = await json(await req('/me/sessions', reader));
    assertConforms('GET', '/me/sessions', 200, listed);
    const mine = listed.sessions;
    const ids = mine.map((s: { session_id: string }) => s.session_id);
    expect(ids).toEqual(expect.arrayContaining([sa.session_id, sb.session_id]));
    for (const s of mine) assertConforms('GET', COLLABORATE, 200, s);
    expect(await json(await req('/me/sessions', stranger))).toEqual({ sessions: [] });
    expect((await app.request('/me/sessions')).status).toBe(401);
  });

  it('issues WebSocket tickets to participants only, never cached', async () => {
    const { path } = await diagram('Tickets');
    const session = await answer(await req(path, owner, { method: 'POST' }), 'POST', 201);
    const ok = await req(`/ws/ticket?session_id=${session.session_id}`, owner);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect((await json(ok)).ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Not yet joined, a stranger to it, a session that does not exist: no such session for them.
    for (const who of [writer, stranger]) {
      const res = await req(`/ws/ticket?session_id=${session.session_id}`, who);
      expect(res.status).toBe(404);
      assertErrorBody(await json(res));
    }
    expect((await req('/ws/ticket?session_id=0190a000-0000-7000-8000-00000000dead', owner)).status).toBe(404);
    expect((await req('/ws/ticket?session_id=nope', owner)).status).toBe(400);
    expect((await req('/ws/ticket', owner)).status).toBe(400);
    await answer(await req(path, writer, { method: 'POST' }), 'POST', 200);
    expect((await req(`/ws/ticket?session_id=${session.session_id}`, writer)).status).toBe(200);
  });

  it('redeems a ticket once, for its own session, within its lifetime', async () => {
    const store = authModule(app.runtime.services).ephemeral;
    const tickets = new WsTickets(store);
    const principal = { user_id: 'u1' } as never;
    const a = await tickets.issue({ principal, session_id: 's1' });
    expect(await tickets.redeem(a, 's1')).toEqual({ principal, session_id: 's1' });
    expect(await tickets.redeem(a, 's1')).toBeNull();
    // Shown for another session, a ticket is spent too: a stolen ticket gets one try.
    const b = await tickets.issue({ principal, session_id: 's1' });
    expect(await tickets.redeem(b, 's2')).toBeNull();
    expect(await tickets.redeem(b, 's1')).toBeNull();
    expect(await tickets.redeem('made-up', 's1')).toBeNull();
    const brief = new WsTickets(store, 1);
    const c = await brief.issue({ principal, session_id: 's1' });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(await brief.redeem(c, 's1')).toBeNull();
    // Two sockets racing with one ticket: one of them gets it.
    const d = await tickets.issue({ principal, session_id: 's1' });
    const raced = await Promise.all([tickets.redeem(d, 's1'), tickets.redeem(d, 's1')]);
    expect(raced.filter((g) => g !== null)).toHaveLength(1);
  });
});
