import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymous } from '../../src/auth/audit.js';
import { postgresEphemeralStore } from '../../src/auth/ephemeral.js';
import { RefreshTokens } from '../../src/auth/refresh-tokens.js';
import { tokenFamilyStreamId } from '../../src/commands/tokens/events.js';
import { RefreshTokenRefused } from '../../src/commands/tokens/family.js';
import { openDatabase } from '../../src/infra/database.js';
import { WsTickets } from '../../src/realtime/tickets.js';
import { collaborationStreamId } from '../../src/realtime/sessions/events.js';
import { collaborationSweep } from '../../src/retention/collaboration.js';
import { deadLetterSweep } from '../../src/retention/dead-letters.js';
import { ephemeralSweep } from '../../src/retention/ephemeral.js';
import { deadLetterStreamId } from '../../src/retention/events.js';
import { idempotencySweep } from '../../src/retention/idempotency.js';
import { runRetention } from '../../src/retention/runtime.js';
import type { Sweep, SweepResult } from '../../src/retention/sweep.js';
import { tokenFamilySweep } from '../../src/retention/token-families.js';
import { childStreamId } from '../../src/commands/child-resources/index.js';
import { connectTo, sessionOn } from '../helpers/collaboration.js';
import { eventually } from '../helpers/eventually.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventCount, signIn } from '../threat-models/helpers.js';
import { lockWaitersOn } from '../helpers/locks.js';

const metadata = { actor: anonymous, trace_id: null, correlation_id: 'test', causation_id: null, request_id: null };

describe('retention sweeps', () => {
  let app: TestApp;
  const pool = () => app.runtime.services.database.pool;
  const rows = async (sql: string, params: unknown[] = []) => (await pool().query(sql, params)).rows;
  const sweep = async (s: Sweep): Promise<SweepResult> => {
    const [run] = await runRetention(app.runtime.services, randomUUID(), [s]);
    if (run!.error) throw run!.error;
    return run!.result!;
  };
  const streamEvents = async (streamId: string) => rows('select type, data, metadata from events where stream_id = $1 order by version', [streamId]);
  /** The result of a run of one sweep, failed or not. */
  const runOf = async (s: Sweep) => (await runRetention(app.runtime.services, randomUUID(), [s]))[0]!;
  /** PostgreSQL itself refuses every append to one stream meanwhile (a trigger): an item that fails for itself, not for the database. */
  async function refusingAppendsTo(streamId: string, during: () => Promise<void>): Promise<void> {
    expect(streamId).toMatch(/^[A-Za-z0-9_-]+$/);
    await pool().query(`create or replace function test_refuse_append() returns trigger language plpgsql as $$
                        begin raise exception 'refused for the test: %', new.stream_id; end $$`);
    await pool().query(`create trigger test_refuse_append before insert on events for each row
                        when (new.stream_id = '${streamId}') execute function test_refuse_append()`);
    try {
      await during();
    } finally {
      await pool().query('drop trigger test_refuse_append on events');
    }
  }

  beforeAll(async () => {
    // The scheduler is off here: each test runs one sweep itself and counts what it did.
    app = await startTestApp({ overrides: { retention: { enabled: false, batch_size: 50, collaboration_idle_seconds: 8 }, realtime: { session_liveness_ms: 500 } } });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('removes expired OAuth states and codes, tickets and lockouts, keeps live ones, appends nothing', async () => {
    const tickets = new WsTickets(postgresEphemeralStore(pool()));
    const grant = { principal: { user_id: 'u' } as never, session_id: 's' };
    const expired = await tickets.issue(grant);
    const live = await tickets.issue(grant);
    const ticketKey = `ws-ticket:${createHash('sha256').update(expired).digest('base64url')}`;
    await pool().query(`update auth_ephemeral set expires_at = now() - interval '1 second' where key = $1`, [ticketKey]);
    for (const [key, ago] of [['oauth-state:old', 10], ['oauth-state:new', -600], ['oauth-code:old', 1], ['cc-failures:client', 5], ['delete-challenge:u', 5], ['elsewhere:x', 5]] as const) {
      await pool().query(`insert into auth_ephemeral (key, value, expires_at) values ($1, 'v', now() - make_interval(secs => $2))`, [key, ago]);
    }
    const before = await eventCount(app);

    const result = await sweep(ephemeralSweep);

    expect(result.removed).toEqual({ ws_ticket: 1, oauth_state: 1, oauth_code: 1, client_credential_lockout: 1, deletion_challenge: 1, auth_ephemeral_other: 1 });
    const left = (await rows('select key from auth_ephemeral order by key')).map((r) => r.key as string);
    expect(left).toHaveLength(2);
    expect(left).toContain('oauth-state:new');
    expect(left).not.toContain(ticketKey);
    expect(await tickets.redeem(live, 's')).toMatchObject({ session_id: 's' });
    expect(await eventCount(app)).toBe(before);
  });

  it('forgets idempotency keys past the window, keeps younger ones replaying, never touches events', async () => {
    const alice = signIn(app, 'alice');
    const create = (key: string) => app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: `Keyed ${key}` }, headers: { 'idempotency-key': key } });
    const oldKey = randomUUID();
    const youngKey = randomUUID();
    const first = await json(await create(oldKey));
    await create(youngKey);
    const window = app.config.retention.idempotency_seconds;
    await pool().query(`update command_results set created_at = now() - make_interval(secs => $2) where command_id like $1`, [`%:${oldKey}`, window + 60]);
    await pool().query(`update command_results set created_at = now() - make_interval(secs => $2) where command_id like $1`, [`%:${youngKey}`, window - 60]);
    const events = await eventCount(app);

    const result = await sweep(idempotencySweep);

    expect(result.removed).toEqual({ idempotency_key: 1 });
    expect(await eventCount(app)).toBe(events);
    const again = await create(youngKey);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // Past the window the key is new: the documented end of the promise.
    const reused = await create(oldKey);
    expect(reused.headers.get('idempotent-replayed')).toBeNull();
    expect((await json(reused)).id).not.toBe(first.id);
  });

  it('removes resolved and skipped dead letters past their age, records the skipped ones, keeps pending ones', async () => {
    const age = app.config.retention.dead_letter_seconds;
    const letters = { pending: randomUUID(), resolved: randomUUID(), skipped: randomUUID(), recent: randomUUID() };
    const insert = (eventId: string, status: string, agoSeconds: number) => pool().query(
      `insert into dead_letters (projection, event_position, event_id, event_type, error, attempts, status, updated_at)
       values ('threat_models', 42, $1, 'ThreatModelCreated', 'boom', 3, $2, now() - make_interval(secs => $3))`, [eventId, status, agoSeconds]);
    await insert(letters.pending, 'pending', age + 100);
    await insert(letters.resolved, 'resolved', age + 100);
    await insert(letters.skipped, 'skipped', age + 100);
    await insert(letters.recent, 'skipped', age - 100);

    const result = await sweep(deadLetterSweep);

    expect(result.removed).toEqual({ dead_letter_resolved: 1, dead_letter_skipped: 1 });
    expect((await rows('select event_id from dead_letters order by event_id')).map((r) => r.event_id).sort()).toEqual([letters.pending, letters.recent].sort());
    const recorded = await streamEvents(deadLetterStreamId('threat_models', letters.skipped));
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'DeadLetterRemoved', data: { projection: 'threat_models', event_id: letters.skipped, event_position: 42, event_type: 'ThreatModelCreated', error: 'boom', attempts: 3 } });
    expect(recorded[0]!.metadata.actor.user_id).toBeNull();
    expect(await streamEvents(deadLetterStreamId('threat_models', letters.resolved))).toEqual([]);
  });

  it('records the end of refresh-token families whose session ended, once, and refuses their tokens', async () => {
    const store = app.runtime.services.store;
    const ended = new RefreshTokens(store, -60);
    const live = new RefreshTokens(store, 3600);
    const user = randomUUID();
    const endedToken = await ended.start(user, metadata);
    const revokedToken = await ended.start(user, metadata);
    await ended.revoke(revokedToken, 'logout', metadata);
    const liveToken = await live.start(user, metadata);
    const family = (token: string) => tokenFamilyStreamId(`${token.slice(0, 8)}-${token.slice(8, 12)}-${token.slice(12, 16)}-${token.slice(16, 20)}-${token.slice(20, 32)}`);

    const result = await sweep(tokenFamilySweep);

    expect(result.removed.refresh_token_family).toBe(1);
    const endedEvents = await streamEvents(family(endedToken));
    expect(endedEvents.map((e) => e.type)).toEqual(['RefreshTokenIssued', 'TokenFamilyExpired']);
    expect(endedEvents[1]!.metadata.actor.user_id).toBeNull();
    expect((await streamEvents(family(revokedToken))).map((e) => e.type)).toEqual(['RefreshTokenIssued', 'TokenFamilyRevoked']);
    expect((await streamEvents(family(liveToken))).map((e) => e.type)).toEqual(['RefreshTokenIssued']);
    // The next run starts past them: nothing is appended twice.
    expect((await sweep(tokenFamilySweep)).removed.refresh_token_family).toBe(0);
    await expect(ended.rotate(endedToken, metadata)).rejects.toThrow(RefreshTokenRefused);
    expect((await streamEvents(family(endedToken))).map((e) => e.type)).toEqual(['RefreshTokenIssued', 'TokenFamilyExpired']);
  });

  it('ends collaboration sessions idle past the age with an event, keeps recently active and watched ones', async () => {
    const owner = signIn(app, 'owner');
    const writer = signIn(app, 'writer');
    const idle = await sessionOn(app, owner, writer);
    const gone = await sessionOn(app, owner, writer);
    // No event after its joins, as idle as the first, but its host's socket stays connected throughout.
    const watched = await sessionOn(app, owner, writer);
    const watcher = await connectTo(app, owner, watched);
    expect((await app.request(`/threat_models/${gone.tm}`, { method: 'DELETE', token: owner.token })).status).toBe(204);
    // Past the idle age for the first three; the last, joined after, must be swept well within it (a loaded machine is slow).
    await new Promise((r) => setTimeout(r, 9000));
    const active = await sessionOn(app, owner, writer);

    const result = await sweep(collaborationSweep);

    expect(result.removed).toEqual({ collaboration_session: 2 });
    expect((await streamEvents(collaborationStreamId(watched.diagram))).at(-1)!.type).toBe('CollaborationParticipantJoined');
    await watcher.close();
    expect((await streamEvents(collaborationStreamId(gone.diagram))).at(-1)).toMatchObject({ type: 'CollaborationSessionEnded', data: { session_id: gone.sessionId, ended_by: 'system', reason: 'diagram_deleted' } });
    const ended = (await streamEvents(collaborationStreamId(idle.diagram))).at(-1)!;
    expect(ended).toMatchObject({ type: 'CollaborationSessionEnded', data: { session_id: idle.sessionId, ended_by: 'system', reason: 'expired' } });
    expect((await streamEvents(collaborationStreamId(active.diagram))).at(-1)!.type).toBe('CollaborationParticipantJoined');
    await expect.poll(async () => (await app.request(idle.collaborate, { token: owner.token })).status, { timeout: 10_000 }).toBe(404);
    expect((await app.request(active.collaborate, { token: owner.token })).status).toBe(200);
  });

  it('keeps a session someone acted on between the idle check and the end: the end is decided on the state the check saw', async () => {
    const owner = signIn(app, 'owner');
    const writer = signIn(app, 'writer');
    const edited = await sessionOn(app, owner, writer);
    const joined = await sessionOn(app, owner, writer);
    await new Promise((r) => setTimeout(r, 9000));
    const newest = async (streamId: string) => (await rows('select stream_type, type, data from events where stream_id = $1 order by version desc limit 1', [streamId]))[0]!;
    const diagramStream = (await newest(childStreamId('diagram', edited.diagram))).stream_type as string;
    const join = await newest(collaborationStreamId(joined.diagram));
    expect(join.type).toBe('CollaborationParticipantJoined');

    const holder = await pool().connect();
    let run: ReturnType<typeof runOf>;
    try {
      // Appends wait (reads do not): the sweep has judged both idle and waits at its first end.
      await holder.query('begin');
      await holder.query('lock table events in share mode');
      run = runOf(collaborationSweep);
      await eventually('the sweep waits at an end', async () => await lockWaitersOn(pool(), 'events') >= 1);
      // Meanwhile the one diagram's stream gets an event (as a participant's edit appends one) and someone joins the
      // other session; the lock's holder may append.
      const at = new Date().toISOString();
      await app.runtime.services.store.appendToStreams([
        { stream_id: childStreamId('diagram', edited.diagram), stream_type: diagramStream, expected: 'any',
          events: [{ type: 'MetadataEntriesSet', data: { entity_type: 'diagram', entity_id: edited.diagram, entries: [{ key: 'edited', value: 'v' }], at } }] },
        { stream_id: collaborationStreamId(joined.diagram), stream_type: join.stream_type, expected: 'any', events: [{ type: join.type, data: { ...join.data, joined_at: at } }] },
      ], { metadata, client: holder });
      await holder.query('commit');
    } finally {
      holder.release();
    }
    const result = await run;
    expect(result.error).toBeUndefined();
    for (const s of [edited, joined]) {
      expect((await streamEvents(collaborationStreamId(s.diagram))).map((e) => e.type)).not.toContain('CollaborationSessionEnded');
      expect((await app.request(s.collaborate, { token: owner.token })).status).toBe(200);
    }
  });

  it('passes over a collaboration session it cannot end and ends the ones after it, run after run', async () => {
    const owner = signIn(app, 'owner');
    const writer = signIn(app, 'writer');
    const stuck = await sessionOn(app, owner, writer);
    const after = await sessionOn(app, owner, writer);
    await new Promise((r) => setTimeout(r, 9000));
    await refusingAppendsTo(collaborationStreamId(stuck.diagram), async () => {
      const first = await runOf(collaborationSweep);
      expect(first.error).toBeUndefined();
      // At least the later one (an earlier test's active session may be idle by now too).
      expect(first.result!.removed.collaboration_session).toBeGreaterThanOrEqual(1);
      expect(first.result!.failed).toBe(1);
      expect((await streamEvents(collaborationStreamId(after.diagram))).at(-1)).toMatchObject({ type: 'CollaborationSessionEnded', data: { session_id: after.sessionId } });
      // The next run meets it again, and still does not stop there.
      expect((await runOf(collaborationSweep)).result).toMatchObject({ failed: 1 });
    });
    expect((await streamEvents(collaborationStreamId(stuck.diagram))).at(-1)!.type).toBe('CollaborationParticipantJoined');
    // Once it can be ended, it is.
    expect((await runOf(collaborationSweep)).result).toMatchObject({ removed: { collaboration_session: 1 } });
    expect((await streamEvents(collaborationStreamId(stuck.diagram))).at(-1)).toMatchObject({ type: 'CollaborationSessionEnded', data: { session_id: stuck.sessionId } });
  });

  it('passes over a refresh-token family it cannot expire and moves its cursor on past it', async () => {
    const store = app.runtime.services.store;
    const user = randomUUID();
    // Both sessions ended after those of the earlier test: its cursor has not passed them.
    const stuckToken = await new RefreshTokens(store, -40).start(user, metadata);
    const laterToken = await new RefreshTokens(store, -30).start(user, metadata);
    const family = (token: string) => tokenFamilyStreamId(`${token.slice(0, 8)}-${token.slice(8, 12)}-${token.slice(12, 16)}-${token.slice(16, 20)}-${token.slice(20, 32)}`);
    await refusingAppendsTo(family(stuckToken), async () => {
      const run = await runOf(tokenFamilySweep);
      expect(run.error).toBeUndefined();
      expect(run.result).toMatchObject({ removed: { refresh_token_family: 1 }, failed: 1 });
    });
    expect((await streamEvents(family(laterToken))).map((e) => e.type)).toEqual(['RefreshTokenIssued', 'TokenFamilyExpired']);
    expect((await streamEvents(family(stuckToken))).map((e) => e.type)).toEqual(['RefreshTokenIssued']);
    // Its token is refused all the same: the session's end is checked on every refresh.
    await expect(new RefreshTokens(store, -40).rotate(stuckToken, metadata)).rejects.toThrow(RefreshTokenRefused);
    expect((await runOf(tokenFamilySweep)).result).toMatchObject({ removed: { refresh_token_family: 0 } });
  });

  it('passes over a dead letter whose record the store refuses, removing the rest of its batch', async () => {
    const age = app.config.retention.dead_letter_seconds;
    const stuck = randomUUID();
    const other = randomUUID();
    for (const eventId of [stuck, other]) {
      await pool().query(`insert into dead_letters (projection, event_position, event_id, event_type, error, attempts, status, updated_at)
                          values ('threat_models', 7, $1, 'ThreatModelCreated', 'boom', 3, 'skipped', now() - make_interval(secs => $2))`, [eventId, age + 100]);
    }
    await refusingAppendsTo(deadLetterStreamId('threat_models', stuck), async () => {
      const run = await runOf(deadLetterSweep);
      expect(run.error).toBeUndefined();
      expect(run.result).toMatchObject({ removed: { dead_letter_skipped: 1 }, failed: 1 });
    });
    expect((await rows('select event_id from dead_letters where event_id = any($1)', [[stuck, other]])).map((r) => r.event_id)).toEqual([stuck]);
    expect(await streamEvents(deadLetterStreamId('threat_models', other))).toHaveLength(1);
    expect(await streamEvents(deadLetterStreamId('threat_models', stuck))).toEqual([]);
    expect((await runOf(deadLetterSweep)).result).toMatchObject({ removed: { dead_letter_skipped: 1 } });
    expect(await streamEvents(deadLetterStreamId('threat_models', stuck))).toHaveLength(1);
  });

  it('clears a backlog in batches of at most batch_size, one statement each, passing over rows another session holds', async () => {
    await pool().query(`insert into auth_ephemeral (key, value, expires_at)
                        select 'oauth-state:backlog-' || i, 'v', now() - interval '1 minute' from generate_series(1, 420) i`);
    const holder = await pool().connect();
    // A pool of its own, so its statement count is the sweep's alone.
    const own = openDatabase(app.database.url, { max: 2 });
    try {
      await holder.query('begin');
      await holder.query(`select 1 from auth_ephemeral where key = 'oauth-state:backlog-7' for update`);
      const context = { pool: own.pool, store: app.runtime.services.store, config: app.config.retention, refreshSessionSeconds: 300, metadata, log: app.runtime.services.log };
      const result = await ephemeralSweep.run(context);
      expect(result.removed.oauth_state).toBe(419);
      // 50 per batch: eight full ones and the rest, each one statement.
      expect(result.batches).toEqual([50, 50, 50, 50, 50, 50, 50, 50, 19]);
      expect(own.statements()).toBe(9);
      await holder.query('commit');
      expect((await rows(`select key from auth_ephemeral where key like 'oauth-state:backlog-%'`)).map((r) => r.key)).toEqual(['oauth-state:backlog-7']);
      expect((await sweep(ephemeralSweep)).removed.oauth_state).toBe(1);
    } finally {
      holder.release();
      await own.close();
    }
  });
});
