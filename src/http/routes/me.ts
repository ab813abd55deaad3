import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { deleteAccount, type AccountDeletion } from '../../application/account-deletion.js';
import { awaitPosition, waitIfAsked } from '../../application/execute-command.js';
import { decideAndAppendAll } from '../../application/multi-stream-command.js';
import { decideOwnershipTransfer, ownedThreatModelCandidates } from '../../application/ownership.js';
import { THREAT_MODEL_PROJECTIONS } from '../../application/threat-models.js';
import { actorOf, metadataFor } from '../../auth/audit.js';
import { groupUuid } from '../../auth/groups.js';
import { authModule } from '../../auth/module.js';
import type { Principal } from '../../auth/principal.js';
import { ADMINISTRATORS, EVERYONE, SECURITY_REVIEWERS } from '../../commands/caller.js';
import { CredentialNotFoundError } from '../../commands/tokens/client-credential.js';
import { UserNotFoundError } from '../../commands/users/errors.js';
import type { UserState } from '../../commands/users/state.js';
import { CLIENT_CREDENTIALS_PROJECTION } from '../../projections/client-credentials.js';
import { USERS_PROJECTION } from '../../projections/users.js';
import type { Services } from '../../services.js';
import { displayNameOf } from '../../commands/users/display-name.js';
import { POSITION_HEADER, wantsAsync } from '../commands.js';
import { HttpError, badRequest, conflict, notFound, unauthorized } from '../errors.js';
import { principalOf, requireUser } from '../plugins/authentication.js';
import { NoBody } from '../schemas/common.js';

const Preferences = Type.Record(Type.String({ maxLength: 100 }), Type.Record(Type.String(), Type.Unknown()), { maxProperties: 20 });
const GroupMembership = Type.Object({ internal_uuid: Type.String(), group_name: Type.String(), name: Type.String() });
const CHALLENGE_SECONDS = 300;
const TransferOwnershipResult = Type.Object({
  threat_models_transferred: Type.Object({ count: Type.Integer(), threat_model_ids: Type.Array(Type.String()) }),
  survey_responses_transferred: Type.Object({ count: Type.Integer(), survey_response_ids: Type.Array(Type.String()) }),
});


// Ownership commands list what the caller owns from the read tables; refusing beats missing one created a moment ago.
const projectionsBehind = () => new HttpError(503, 'service_unavailable', 'the read tables are catching up; retry shortly', { 'Retry-After': '2' });

interface Membership { internal_uuid: string; group_name: string; name: string; provider: string }

/** Everyone, the IdP's groups for this user, and the built-in role groups. */
function membershipsOf(p: Principal): Membership[] {
  const out: Membership[] = [{ internal_uuid: groupUuid('tmi', EVERYONE), group_name: EVERYONE, name: 'Everyone', provider: 'tmi' }];
  for (const g of p.groups) {
    const builtIn = g === ADMINISTRATORS ? p.is_admin : g === SECURITY_REVIEWERS ? p.is_security_reviewer : false;
    const provider = builtIn ? 'tmi' : p.provider;
    out.push({ internal_uuid: groupUuid(provider, g), group_name: g, name: g, provider });
  }
  return out;
}

/** `/me`: the caller's account, preferences, groups, machine credentials, logout and deletion. */
export const meRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const auth = authModule(services);

  /** The caller's user, read from its stream so a write is visible to the next request at once. */
  async function currentUser(request: FastifyRequest): Promise<UserState> {
    const p = principalOf(request);
    const { state } = await auth.users.read(p.user_id);
    if (state.status !== 'active') throw unauthorized('the user no longer exists', 'invalid_token');
    return state;
  }

  /** Read-your-writes for the credential list, which is a projection. */
  async function credentialsReached(position: number) {
    services.wakeups.wake([CLIENT_CREDENTIALS_PROJECTION]);
    await awaitPosition(services, [CLIENT_CREDENTIALS_PROJECTION], position);
  }

  async function replacePreferences(request: FastifyRequest, preferences: Record<string, unknown>) {
    const p = principalOf(request);
    try {
      await auth.users.execute(p.user_id, { type: 'ReplacePreferences', preferences }, metadataFor(request, actorOf(p)));
    } catch (err) {
      if (err instanceof UserNotFoundError) throw unauthorized('the user no longer exists', 'invalid_token');
      throw err;
    }
  }

  app.get('/me', {
    preHandler: requireUser,
    schema: {
      tags: ['User Account'],
      response: { 200: Type.Object({
        principal_type: Type.Literal('user'), provider: Type.String(), provider_id: Type.String(), display_name: Type.String(), email: Type.String(),
        is_admin: Type.Boolean(), is_security_reviewer: Type.Boolean(), groups: Type.Array(GroupMembership),
      }) },
    },
  }, async (request) => {
    const user = await currentUser(request);
    const p = principalOf(request);
    return {
      principal_type: 'user' as const,
      provider: user.provider,
      provider_id: user.provider_user_id,
      display_name: displayNameOf(user.name, user.email),
      email: user.email,
      is_admin: p.is_admin,
      is_security_reviewer: p.is_security_reviewer,
      groups: membershipsOf(p).map(({ internal_uuid, group_name, name }) => ({ internal_uuid, group_name, name })),
    };
  });

  app.delete('/me', {
    preHandler: requireUser,
    schema: {
      tags: ['User Account'],
      querystring: Type.Object({ challenge: Type.Optional(Type.String({ maxLength: 1000 })) }),
      response: { 200: Type.Object({ challenge_text: Type.String(), expires_at: Type.String() }, { additionalProperties: false }), 202: NoBody, 204: NoBody },
    },
  }, async (request, reply) => {
    const p = principalOf(request);
    const key = `delete-challenge:${p.user_id}`;
    if (!request.query.challenge) {
      // Step one: a challenge the caller must echo back, so deletion is never a single stray request.
      const text = `I confirm the permanent deletion of my account ${p.email} (${randomBytes(6).toString('hex')})`;
      await auth.ephemeral.put(key, text, CHALLENGE_SECONDS);
      return { challenge_text: text, expires_at: new Date(Date.now() + CHALLENGE_SECONDS * 1000).toISOString() };
    }
    const expected = await auth.ephemeral.get(key);
    if (!expected || expected !== request.query.challenge) throw badRequest('the challenge is missing, wrong or expired', 'invalid_request');
    const metadata = metadataFor(request, actorOf(p));
    const candidates = await ownedThreatModelCandidates(services, p);
    if (candidates === null) throw projectionsBehind();
    let deletion: AccountDeletion;
    try {
      deletion = await deleteAccount(services, p, candidates, metadata);
    } catch (err) {
      if (err instanceof UserNotFoundError) throw unauthorized('the user no longer exists', 'invalid_token');
      throw err;
    }
    // Spent only now: a deletion that failed (read tables behind, a conflict) can be confirmed again with the same challenge.
    await auth.ephemeral.delete(key);
    auth.revocations.revokeUser(p.user_id);
    await auth.users.execute(p.user_id, { type: 'RevokeAccessToken', revocation: { jti: p.jti, expires_at: p.exp, reason: 'user_deleted' } }, metadata);
    const projections = [USERS_PROJECTION, ...THREAT_MODEL_PROJECTIONS];
    services.wakeups.wake(projections);
    reply.header(POSITION_HEADER, String(deletion.position));
    // 204 has no body to say "not yet visible", so a deletion the read tables have not caught up with answers 202.
    return reply.code(await waitIfAsked(services, { projections, waitForProjections: !wantsAsync(request) }, deletion.position) ? 204 : 202).send();
  });

  app.post('/me/transfer', {
    preHandler: requireUser,
    schema: {
      tags: ['Users'],
      operationId: 'transferCurrentUserOwnership',
      body: Type.Object({ target_user_id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
      response: {
        200: TransferOwnershipResult,
        202: TransferOwnershipResult,
      },
    },
  }, async (request, reply) => {
    const p = principalOf(request);
    const targetId = request.body.target_user_id.toLowerCase();
    if (targetId === p.user_id.toLowerCase()) throw badRequest('ownership cannot be transferred to yourself');
    const candidates = await ownedThreatModelCandidates(services, p);
    if (candidates === null) throw projectionsBehind();
    const now = new Date().toISOString();
    const { result: ids, appended } = await decideAndAppendAll(services.store,
      () => decideOwnershipTransfer(services, p, targetId, candidates, now), { metadata: metadataFor(request, actorOf(p)) });
    let status: 200 | 202 = 200;
    if (appended) {
      services.wakeups.wake(THREAT_MODEL_PROJECTIONS);
      reply.header(POSITION_HEADER, String(appended.position));
      if (!await waitIfAsked(services, { projections: THREAT_MODEL_PROJECTIONS, waitForProjections: !wantsAsync(request) }, appended.position)) status = 202;
    }
    return reply.code(status).send({
      threat_models_transferred: { count: ids.length, threat_model_ids: ids },
      survey_responses_transferred: { count: 0, survey_response_ids: [] },
    });
  });

  app.post('/me/logout', { preHandler: requireUser, schema: { tags: ['User Account'] } }, async (request, reply) => {
    const p = principalOf(request);
    // Refused here at once; other instances learn it from the AccessTokenRevoked event.
    auth.revocations.revokeToken(p.jti, p.exp);
    await auth.users.execute(p.user_id, { type: 'RevokeAccessToken', revocation: { jti: p.jti, expires_at: p.exp, reason: 'logout' } }, metadataFor(request, actorOf(p)));
    return reply.code(204).send();
  });

  app.get('/me/preferences', { preHandler: requireUser, schema: { tags: ['User Account'], response: { 200: Preferences } } }, async (request) => {
    return (await currentUser(request)).preferences as Record<string, Record<string, unknown>>;
  });

  app.post('/me/preferences', { preHandler: requireUser, schema: { tags: ['User Account'], body: Preferences, response: { 201: Preferences } } }, async (request, reply) => {
    const user = await currentUser(request);
    if (Object.keys(user.preferences).length > 0) throw conflict('preferences already exist; use PUT to replace them');
    await replacePreferences(request, request.body);
    return reply.code(201).send(request.body);
  });

  app.put('/me/preferences', { preHandler: requireUser, schema: { tags: ['User Account'], body: Preferences, response: { 200: Preferences } } }, async (request) => {
    await replacePreferences(request, request.body);
    return request.body;
  });

  app.get('/me/groups', {
    preHandler: requireUser,
    schema: { tags: ['User Account'], response: { 200: Type.Object({ groups: Type.Array(GroupMembership), total: Type.Integer() }) } },
  }, async (request) => {
    const groups = membershipsOf(principalOf(request)).map(({ internal_uuid, group_name, name }) => ({ internal_uuid, group_name, name }));
    return { groups, total: groups.length };
  });

  app.get('/me/groups/:group_id/members', {
    preHandler: requireUser,
    schema: {
      tags: ['User Account'],
      params: Type.Object({ group_id: Type.String({ format: 'uuid' }) }),
      querystring: Type.Object({ limit: Type.Integer({ minimum: 0, maximum: 1000, default: 50 }), offset: Type.Integer({ minimum: 0, maximum: 1000000, default: 0 }) }),
    },
  }, async (request) => {
    const p = principalOf(request);
    const group = membershipsOf(p).find((g) => g.internal_uuid === request.params.group_id);
    // Only members may list a group; for anyone else it does not exist.
    if (!group) throw notFound('group not found');
    const { limit, offset } = request.query;
    const everyone = group.group_name === EVERYONE && group.provider === 'tmi';
    const from = everyone ? 'users u' : 'user_group_memberships m join users u on u.internal_uuid = m.user_internal_uuid';
    const where = everyone ? '' : 'where m.group_uuid = $3';
    const params: unknown[] = [limit, offset, ...(everyone ? [] : [group.internal_uuid])];
    const [rows, total] = await Promise.all([
      services.database.pool.query<{ internal_uuid: string; email: string; name: string; provider: string; provider_user_id: string; added_at: Date }>(
        `select u.internal_uuid, u.email, u.name, u.provider, u.provider_user_id, ${everyone ? 'u.created_at' : 'm.added_at'} as added_at
         from ${from} ${where} order by u.email limit $1 offset $2`, params),
      services.database.pool.query<{ n: number }>(`select count(*)::int as n from ${from} ${everyone ? '' : 'where m.group_uuid = $1'}`, everyone ? [] : [group.internal_uuid]),
    ]);
    return {
      members: rows.rows.map((r) => ({
        id: groupUuid(r.internal_uuid, group.internal_uuid),
        group_internal_uuid: group.internal_uuid,
        user_internal_uuid: r.internal_uuid,
        user_email: r.email,
        user_name: r.name,
        user_provider: r.provider,
        user_provider_user_id: r.provider_user_id,
        added_at: r.added_at.toISOString(),
        subject_type: 'user' as const,
      })),
      total: total.rows[0]!.n,
      limit,
      offset,
    };
  });

  app.get('/me/client_credentials', {
    preHandler: requireUser,
    schema: { tags: ['User Account'], querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }), offset: Type.Integer({ minimum: 0, maximum: 1000000000, default: 0 }) }) },
  }, async (request) => {
    const p = principalOf(request);
    const { limit, offset } = request.query;
    const [rows, total] = await Promise.all([
      services.database.pool.query<{ id: string; client_id: string; name: string; description: string | null; is_active: boolean; created_at: Date; modified_at: Date; last_used_at: Date | null; expires_at: Date | null }>(
        'select * from client_credentials where owner_uuid = $1 order by created_at, id limit $2 offset $3', [p.user_id, limit, offset]),
      services.database.pool.query<{ n: number }>('select count(*)::int as n from client_credentials where owner_uuid = $1', [p.user_id]),
    ]);
    return {
      credentials: rows.rows.map((r) => ({
        id: r.id, client_id: r.client_id, name: r.name, is_active: r.is_active && (!r.expires_at || r.expires_at > new Date()),
        created_at: r.created_at.toISOString(), modified_at: r.modified_at.toISOString(),
        ...(r.description ? { description: r.description } : {}),
        ...(r.last_used_at ? { last_used_at: r.last_used_at.toISOString() } : {}),
        ...(r.expires_at ? { expires_at: r.expires_at.toISOString() } : {}),
      })),
      total: total.rows[0]!.n,
      limit,
      offset,
    };
  });

  app.post('/me/client_credentials', {
    preHandler: requireUser,
    schema: {
      tags: ['User Account'],
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 100 }),
        description: Type.Optional(Type.String({ maxLength: 1000 })),
        expires_at: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const p = principalOf(request);
    if (request.body.expires_at && Date.parse(request.body.expires_at) <= Date.now()) throw badRequest('expires_at must be in the future');
    const created = await auth.credentials.create(p.user_id, request.body, metadataFor(request, actorOf(p)));
    await credentialsReached(created.position);
    const { position, ...body } = created;
    return reply.code(201).header(POSITION_HEADER, String(position)).send(body);
  });

  app.delete('/me/client_credentials/:credential_id', {
    preHandler: requireUser,
    schema: { tags: ['User Account'], params: Type.Object({ credential_id: Type.String({ format: 'uuid' }) }) },
  }, async (request, reply) => {
    const p = principalOf(request);
    try {
      const position = await auth.credentials.delete(p.user_id, request.params.credential_id, metadataFor(request, actorOf(p)));
      await credentialsReached(position);
      reply.header(POSITION_HEADER, String(position));
    } catch (err) {
      if (err instanceof CredentialNotFoundError) throw notFound('client credential not found');
      throw err;
    }
    return reply.code(204).send();
  });

};
