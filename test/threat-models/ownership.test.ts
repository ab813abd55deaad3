import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOwnershipTransfer } from '../../src/application/ownership.js';
import { userDecider } from '../../src/auth/identity.js';
import { USER_STREAM_TYPE, userStreamId } from '../../src/commands/users/events.js';
import { StreamChangedError } from '../../src/events/errors.js';
import { usersForEntries } from '../../src/queries/users.js';
import { testMetadata } from '../helpers/events.js';
import { assertConforms } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { loginWithDevProvider } from '../helpers/login.js';

/** Users who really signed in (their streams and read rows exist), as tests name them. */
interface Person { hint: string; token: string; userId: string; providerId: string }

const userIdOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sub;

async function person(app: TestApp, hint: string): Promise<Person> {
  const { access_token } = await loginWithDevProvider(app, hint);
  return { hint, token: access_token, userId: userIdOf(access_token), providerId: hint };
}

/** The caller the domain sees for a signed-in person (as the token says). */
const callerOf = (p: Person) => ({
  user_id: p.userId, provider: 'tmi', provider_id: p.hint, email: `${p.hint}@tmi.local`, email_verified: true, name: p.hint, groups: [], is_admin: false, is_security_reviewer: false,
});

const entry = (p: Person, role: string) => ({ principal_type: 'user', provider: 'tmi', provider_id: p.providerId, role });

describe('ownership: POST /me/transfer and DELETE /me', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 }, auth: { administrators: [{ provider: 'tmi', subject: 'root-admin' }] } } });
  });
  afterAll(async () => { await app?.stop(); });

  async function create(owner: Person, name: string, authorization: unknown[] = []): Promise<string> {
    const res = await app.request('/threat_models', { method: 'POST', token: owner.token, json: { name, authorization } });
    expect(res.status).toBe(201);
    return (await json(res)).id;
  }

  const get = (who: Person, id: string) => app.request(`/threat_models/${id}`, { token: who.token });

  it('transfers every threat model the caller owns to the target, keeping the caller as a writer, in one atomic append', async () => {
    const alice = await person(app, 'transfer-alice');
    const bob = await person(app, 'transfer-bob');
    const carol = await person(app, 'transfer-carol');
    const first = await create(alice, 'Alice one', [entry(carol, 'reader')]);
    const second = await create(alice, 'Alice two');
    // Alice is only a writer here: not hers to hand over.
    const bobs = await create(bob, 'Bob owns this', [entry(alice, 'writer')]);

    const res = await app.request('/me/transfer', { method: 'POST', token: alice.token, json: { target_user_id: bob.userId } });
    expect(res.status).toBe(200);
    const body = await json(res);
    assertConforms('POST', '/me/transfer', 200, body);
    expect(body.threat_models_transferred.count).toBe(2);
    expect([...body.threat_models_transferred.threat_model_ids].sort()).toEqual([first, second].sort());
    expect(body.survey_responses_transferred).toEqual({ count: 0, survey_response_ids: [] });

    for (const id of [first, second]) {
      const tm = await json(await get(bob, id));
      expect(tm.owner).toMatchObject({ provider: 'tmi', provider_id: bob.providerId, email: `${bob.hint}@tmi.local` });
      const roles = Object.fromEntries(tm.authorization.filter((a: { principal_type: string }) => a.principal_type === 'user').map((a: { provider_id: string; role: string }) => [a.provider_id, a.role]));
      expect(roles[alice.providerId]).toBe('writer');
      expect(roles[bob.providerId]).toBe('owner');
    }
    expect(await json(await get(carol, first))).toMatchObject({ owner: { provider_id: bob.providerId } });
    // Alice now writes but no longer owns: deleting needs the owner role.
    expect((await app.request(`/threat_models/${first}`, { method: 'DELETE', token: alice.token })).status).toBe(403);
    expect(await json(await get(bob, bobs))).toMatchObject({ owner: { provider_id: bob.providerId } });

    const { rows } = await app.runtime.services.database.pool.query<{ tx: string }>(
      `select distinct (position >> 16)::text as tx from events where type = 'ThreatModelAccessChanged' and stream_id = any($1)`,
      [[first, second].map((id) => `threat_model-${id}`)]);
    expect(rows).toHaveLength(1);

    // Nothing left to transfer: an empty result, and nothing appended.
    const again = await json(await app.request('/me/transfer', { method: 'POST', token: alice.token, json: { target_user_id: bob.userId } }));
    expect(again.threat_models_transferred).toEqual({ count: 0, threat_model_ids: [] });
  });

  it('refuses a transfer to oneself, to an unknown user, a malformed body and an anonymous caller', async () => {
    const dan = await person(app, 'transfer-dan');
    await create(dan, 'Dan keeps this');
    const self = await app.request('/me/transfer', { method: 'POST', token: dan.token, json: { target_user_id: dan.userId } });
    expect(self.status).toBe(400);
    assertConforms('POST', '/me/transfer', 400, await json(self));
    const unknown = await app.request('/me/transfer', { method: 'POST', token: dan.token, json: { target_user_id: '0190aaaa-0000-7000-8000-000000000000' } });
    expect(unknown.status).toBe(404);
    assertConforms('POST', '/me/transfer', 404, await json(unknown));
    for (const bad of [{}, { target_user_id: 'nope' }, { target_user_id: dan.userId, extra: 1 }]) {
      expect((await app.request('/me/transfer', { method: 'POST', token: dan.token, json: bad })).status).toBe(400);
    }
    expect((await app.request('/me/transfer', { method: 'POST', json: { target_user_id: dan.userId } })).status).toBe(401);
    const { rows } = await app.runtime.services.database.pool.query(`select 1 from events where type = 'ThreatModelAccessChanged' and metadata->'actor'->>'user_id' = $1`, [dan.userId]);
    expect(rows).toHaveLength(0);
  });

  it('deleting an account hands shared threat models to another owner and deletes the unshared ones, atomically with the user', async () => {
    const erin = await person(app, 'leaving-erin');
    const frank = await person(app, 'heir-frank');
    const gina = await person(app, 'reader-gina');
    const shared = await create(erin, 'Shared with an owner', [entry(gina, 'reader'), entry(frank, 'owner')]);
    const readersOnly = await create(erin, 'Only readers besides Erin', [entry(gina, 'reader')]);
    const alone = await create(erin, 'Erin alone');

    const challenge = await json(await app.request('/me', { method: 'DELETE', token: erin.token }));
    const res = await app.request(`/me?challenge=${encodeURIComponent(challenge.challenge_text)}`, { method: 'DELETE', token: erin.token });
    expect(res.status).toBe(204);

    const kept = await json(await get(frank, shared));
    expect(kept.owner).toMatchObject({ provider_id: frank.providerId, display_name: expect.any(String), email: `${frank.hint}@tmi.local` });
    expect(kept.authorization.map((a: { provider_id: string }) => a.provider_id)).not.toContain(erin.providerId);
    expect((await get(gina, shared)).status).toBe(200);
    // No other owner: deleted, as TMI does (a soft delete here; an administrator can restore it).
    expect((await get(gina, readersOnly)).status).toBe(404);
    const admin = await person(app, 'root-admin');
    for (const id of [readersOnly, alone]) {
      const restored = await app.request(`/threat_models/${id}/restore`, { method: 'POST', token: admin.token });
      expect(restored.status).toBe(200);
    }

    const { rows } = await app.runtime.services.database.pool.query<{ tx: string }>(
      `select distinct (position >> 16)::text as tx from events
       where (stream_id = $1 and type = 'UserDeleted') or (stream_id = any($2) and type in ('ThreatModelAccessChanged', 'ThreatModelDeleted'))`,
      [`user-${erin.userId}`, [shared, readersOnly, alone].map((id) => `threat_model-${id}`)]);
    expect(rows).toHaveLength(1);
    expect((await app.request('/me', { token: erin.token })).status).toBe(401);
  });

  it('a transfer relies on its target not being deleted meanwhile: the append is refused and decided again', async () => {
    const hana = await person(app, 'race-hana');
    const ivan = await person(app, 'race-ivan');
    const id = await create(hana, 'Racing');
    const services = app.runtime.services;
    const decided = await decideOwnershipTransfer(services, { ...hana, ...callerOf(hana) }, ivan.userId, [id], new Date().toISOString());
    expect(decided.result).toEqual([id]);
    // Ivan deletes his account between the decision and its append.
    const ivanStream = await services.store.readStream(userStreamId(ivan.userId));
    await services.store.appendToStream({ stream_id: userStreamId(ivan.userId), stream_type: USER_STREAM_TYPE, expected: ivanStream.at(-1)!.version,
      events: userDecider.decide({ type: 'DeleteUser', reason: 'test' }, ivanStream.reduce((st, e) => userDecider.evolve(st, e as never), userDecider.initialState())) }, { metadata: testMetadata() });
    await expect(services.store.appendToStreams(decided.appends, { metadata: testMetadata(), conditions: decided.conditions })).rejects.toBeInstanceOf(StreamChangedError);
    // Decided again, the target is gone.
    const again = await app.request('/me/transfer', { method: 'POST', token: hana.token, json: { target_user_id: ivan.userId } });
    expect(again.status).toBe(404);
    expect(await json(await get(hana, id))).toMatchObject({ owner: { provider_id: hana.providerId } });
  });

  it('a deletion that could not be carried out leaves its challenge usable', async () => {
    const jack = await person(app, 'retry-jack');
    await create(jack, 'Jack keeps this');
    const challenge = await json(await app.request('/me', { method: 'DELETE', token: jack.token }));
    const pool = app.runtime.services.database.pool;
    // The users projection halted: the deletion cannot see every owner, so it refuses (503) rather than act on a partial list.
    await pool.query(`update projection_checkpoints set halted_at = position + 1 where name = 'users'`);
    // Something for it to pass while halted: otherwise, already past every event, it would not stand in the way.
    const services = app.runtime.services;
    await services.store.appendToStream({ stream_id: userStreamId('0190c000-0000-7000-8000-0000000000ff'), stream_type: USER_STREAM_TYPE, expected: 'no_stream', events: [
      { type: 'UserRegistered', data: { user_id: '0190c000-0000-7000-8000-0000000000ff', provider: 'tmi', provider_user_id: 'bystander', email: 'bystander@tmi.local', name: 'bystander', email_verified: true } },
    ] }, { metadata: testMetadata() });
    try {
      const refused = await app.request(`/me?challenge=${encodeURIComponent(challenge.challenge_text)}`, { method: 'DELETE', token: jack.token });
      expect(refused.status).toBe(503);
    } finally {
      await pool.query(`update projection_checkpoints set halted_at = null where name = 'users'`);
    }
    const confirmed = await app.request(`/me?challenge=${encodeURIComponent(challenge.challenge_text)}`, { method: 'DELETE', token: jack.token });
    expect(confirmed.status).toBe(204);
  });

  it('names a successor by email only when the user\'s provider verified that email', async () => {
    const services = app.runtime.services;
    const register = async (id: string, providerUserId: string, email: string, verified: boolean) => {
      const res = await services.store.appendToStream({ stream_id: userStreamId(id), stream_type: USER_STREAM_TYPE, expected: 'no_stream', events: [
        { type: 'UserRegistered', data: { user_id: id, provider: 'tmi', provider_user_id: providerUserId, email, name: providerUserId, email_verified: verified } },
      ] }, { metadata: testMetadata() });
      services.wakeups.wake(['users']);
      expect(await services.progress.waitFor(['users'], res.position, 15_000)).toBe(true);
    };
    await register('0190c000-0000-7000-8000-000000000001', 'kim-verified', 'kim@example.com', true);
    await register('0190c000-0000-7000-8000-000000000002', 'lee-unverified', 'lee@example.com', false);
    const found = await usersForEntries(services.database.pool, [
      { principal_type: 'user', provider: 'tmi', provider_id: 'kim@example.com', role: 'owner' },
      { principal_type: 'user', provider: 'tmi', provider_id: 'lee@example.com', role: 'owner' },
      { principal_type: 'user', provider: 'tmi', provider_id: 'lee-unverified', role: 'owner' },
    ]);
    expect(found.map((u) => u.provider_id)).toEqual(['kim@example.com', 'lee-unverified']);
  });
});
