import type { FastifyRequest } from 'fastify';
import type { Services } from '../services.js';
import { metadataFor } from './audit.js';
import { ClientCredentials } from './client-credentials.js';
import { postgresEphemeralStore, redisEphemeralStore, type EphemeralStore } from './ephemeral.js';
import { AuthorizationFlows } from './oauth-flow.js';
import { UserDirectory, principalClaims } from './identity.js';
import { createProviderRegistry, type ProviderRegistry } from './providers.js';
import { RefreshTokens } from './refresh-tokens.js';
import { AccessTokenRevocations } from './revocations.js';
import type { UserState } from '../commands/users/state.js';

/** The token response of TMI's `/oauth2/token`, `/oauth2/refresh` and callback. */
export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'bearer';
  expires_in: number;
}

/** Everything identity-related, built once per running service and shared by routes and the auth hook. */
export interface AuthModule {
  providers: ProviderRegistry;
  users: UserDirectory;
  refresh: RefreshTokens;
  /** Revoked access tokens, in memory, fed from the revocation events (started and stopped with the HTTP app). */
  revocations: AccessTokenRevocations;
  credentials: ClientCredentials;
  ephemeral: EphemeralStore;
  flows: AuthorizationFlows;
  /** Issues an access token and, unless `refresh: false`, starts a refresh-token family. */
  /** `clientId`: the token is a machine client's, issued by the client-credentials grant. */
  issue(user: UserState, request: FastifyRequest, options?: { refreshToken?: string | false; clientId?: string }): Promise<TokenPair>;
}

const modules = new WeakMap<Services, AuthModule>();

export function authModule(services: Services): AuthModule {
  let module = modules.get(services);
  if (module) return module;
  const { config, store } = services;
  const ephemeral = services.redis ? redisEphemeralStore(services.redis, config.redis.prefix) : postgresEphemeralStore(services.database.pool);
  const refresh = new RefreshTokens(store, config.auth.jwt.refresh_session_seconds);
  module = {
    providers: createProviderRegistry(config),
    users: new UserDirectory(store, config),
    refresh,
    revocations: new AccessTokenRevocations(services.database.pool, services.databaseUrl, store.catalog, {
      pollIntervalMs: config.auth.revocation_poll_ms, log: services.log, metrics: services.metrics,
    }),
    credentials: new ClientCredentials(store, ephemeral, { maxFailures: config.auth.client_credentials_max_failures, seconds: config.auth.client_credentials_lockout_seconds }),
    ephemeral,
    flows: new AuthorizationFlows(ephemeral),
    async issue(user, request, options = {}) {
      const { token } = services.tokens.issue({ ...principalClaims(user), ...(options.clientId !== undefined ? { client_id: options.clientId } : {}) });
      const actor = { user_id: user.user_id, email: user.email, provider: user.provider };
      const refreshToken = options.refreshToken === false ? ''
        : options.refreshToken ?? await refresh.start(user.user_id, metadataFor(request, actor));
      return {
        access_token: token,
        refresh_token: refreshToken,
        token_type: 'bearer',
        expires_in: services.tokens.expiresInSeconds,
      };
    },
  };
  modules.set(services, module);
  return module;
}
