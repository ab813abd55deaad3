import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAggregate } from '../../src/application/execute-command.js';
import { CREDENTIAL_SNAPSHOT_EVERY, credentialDecider } from '../../src/auth/client-credentials.js';
import { USER_SNAPSHOT_EVERY, principalClaims, userDecider } from '../../src/auth/identity.js';
import { authModule } from '../../src/auth/module.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { testMetadata } from '../helpers/events.js';

const LOGINS = 5000;
/** Uses through the real login / authentication path after the bulk of the history. */
const REAL_USES = 3;

/**
 * Logins and client-credential grants append to the user's and the credential's streams for
 * ever; reading them (/me, every grant) must not get slower with every login. Counted, not
 * timed: the events the load path reads.
 */
describe('streams that grow with every login', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ overrides: { rate_limit: { enabled: false } } }); });
  afterAll(async () => { await app?.stop(); });

  const streamLength = async (streamId: string) =>
    (await app.runtime.services.database.pool.query<{ n: number }>('select count(*)::int as n from events where stream_id = $1', [streamId])).rows[0]!.n;
  const appendMany = (streamId: string, streamType: string, n: number, event: { type: string; data: unknown }) =>
    app.runtime.services.store.appendToStream({ stream_id: streamId, stream_type: streamType, expected: 'any', events: Array.from({ length: n }, () => event) }, { metadata: testMetadata() });
  /** Events the aggregate load path reads while `action` runs. */
  async function eventsReadBy(action: () => Promise<void>): Promise<{ loads: number; eventsRead: number }> {
    const { snapshots } = app.runtime.services.store;
    await snapshots.idle();
    const before = { ...snapshots.stats };
    await action();
    return { loads: snapshots.stats.loads - before.loads, eventsRead: snapshots.stats.eventsRead - before.eventsRead };
  }

  it(`/me for a user with ${LOGINS} logins, and a grant of a credential used ${LOGINS} times, read a bounded number of events`, async () => {
    const auth = authModule(app.runtime.services);
    const identity = { provider_user_id: 'frequent@tmi.local', email: 'frequent@tmi.local', name: 'Frequent', email_verified: true, groups: [] };
    const login = async () => (await auth.users.login('tmi', identity, 'oauth', testMetadata())).user;
    let user = await login();
    // The bulk of the history in one append, as a stream from before snapshots existed would hold it;
    // then logins through the real path, the first of which folds it all once and leaves a snapshot.
    await appendMany(`user-${user.user_id}`, 'user', LOGINS, { type: 'UserLoggedIn', data: { provider: 'tmi', method: 'oauth', groups: [], is_admin: false, is_security_reviewer: false } });
    for (let i = 0; i < REAL_USES; i++) user = await login();
    expect(await streamLength(`user-${user.user_id}`)).toBeGreaterThan(LOGINS);
    const { token } = app.runtime.services.tokens.issue(principalClaims(user));

    const me = await eventsReadBy(async () => {
      const res = await app.request('/me', { token });
      expect(res.status).toBe(200);
      expect(await json(res)).toMatchObject({ email: 'frequent@tmi.local' });
    });
    expect(me.loads).toBe(1);
    expect(me.eventsRead).toBeLessThanOrEqual(USER_SNAPSHOT_EVERY);
    // And the state from the snapshot is the state of the whole fold.
    const { store } = app.runtime.services;
    const fromSnapshot = await loadAggregate({ store }, userDecider, `user-${user.user_id}`);
    const whole = await loadAggregate({ store }, { ...userDecider, snapshot: undefined }, `user-${user.user_id}`);
    expect(fromSnapshot.snapshotVersion).toBeGreaterThan(0);
    expect(whole.eventsRead).toBeGreaterThan(LOGINS);
    expect(fromSnapshot.state).toEqual(whole.state);

    // A machine client used LOGINS times.
    const created = await app.request('/me/client_credentials', { method: 'POST', token, json: { name: 'busy ci' } });
    expect(created.status).toBe(201);
    const { id, client_id, client_secret } = await json(created);
    await appendMany(`client-credential-${id}`, 'client_credential', LOGINS, { type: 'ClientCredentialUsed', data: {} });
    for (let i = 0; i < REAL_USES; i++) await auth.credentials.authenticate(client_id, client_secret, testMetadata());
    expect(await streamLength(`client-credential-${id}`)).toBeGreaterThan(LOGINS);

    const grant = await eventsReadBy(async () => {
      const res = await app.request('/oauth2/token', { method: 'POST', json: { grant_type: 'client_credentials', client_id, client_secret } });
      expect(res.status).toBe(200);
    });
    // The credential's stream and its owner's, each read from a snapshot.
    expect(grant.loads).toBe(2);
    expect(grant.eventsRead).toBeLessThanOrEqual(CREDENTIAL_SNAPSHOT_EVERY + USER_SNAPSHOT_EVERY);
    const credential = await loadAggregate({ store }, credentialDecider, `client-credential-${id}`);
    expect(credential.snapshotVersion).toBeGreaterThan(0);
    expect(credential.state).toEqual((await loadAggregate({ store }, { ...credentialDecider, snapshot: undefined }, `client-credential-${id}`)).state);
  });
});
