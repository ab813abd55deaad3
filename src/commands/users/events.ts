import { Type, type Static } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';

const Str = (max = 1000) => Type.String({ maxLength: max });

export const UserRegisteredSchema = Type.Object({
  user_id: Type.String({ maxLength: 36 }),
  provider: Str(100),
  provider_user_id: Str(500),
  email: Str(254),
  name: Str(256),
  email_verified: Type.Boolean(),
});
/** Claims the stream `identity-<provider>:<provider user id>`; written with `no_stream` so a provider identity maps to one user. */
export const ProviderIdentityLinkedSchema = Type.Object({
  user_id: Type.String(),
  provider: Str(100),
  provider_user_id: Str(500),
  email: Str(254),
  primary: Type.Boolean(),
});
export const UserProfileUpdatedSchema = Type.Object({
  email: Type.Optional(Str(254)),
  name: Type.Optional(Str(256)),
  email_verified: Type.Optional(Type.Boolean()),
});
export const UserLoggedInSchema = Type.Object({
  provider: Str(100),
  /** How the caller proved who they are: an identity provider or a client credential. */
  method: Type.Union([Type.Literal('oauth'), Type.Literal('client_credentials')]),
  /** Group names from the identity provider at this login (TMI's built-in groups are derived). */
  groups: Type.Array(Str(256), { maxItems: 1000 }),
  is_admin: Type.Boolean(),
  is_security_reviewer: Type.Boolean(),
  client_id: Type.Optional(Str(256)),
});
export const UserPreferencesReplacedSchema = Type.Object({
  preferences: Type.Record(Type.String(), Type.Unknown()),
});
export const AccessTokenRevokedSchema = Type.Object({
  jti: Str(100),
  expires_at: Type.Integer(),
  reason: Type.Union([Type.Literal('logout'), Type.Literal('revoke'), Type.Literal('user_deleted')]),
});
export const UserDeletedSchema = Type.Object({ reason: Str(200) });
export const LoginFailedSchema = Type.Object({
  provider: Str(100),
  reason: Str(1000),
  /** What the caller claimed to be, when known (a login hint, client id, provider subject). */
  claimed: Type.Optional(Str(500)),
  ip: Type.Optional(Str(100)),
});

export type UserRegistered = Static<typeof UserRegisteredSchema>;
export type ProviderIdentityLinked = Static<typeof ProviderIdentityLinkedSchema>;
export type UserProfileUpdated = Static<typeof UserProfileUpdatedSchema>;
export type UserLoggedIn = Static<typeof UserLoggedInSchema>;
export type UserPreferencesReplaced = Static<typeof UserPreferencesReplacedSchema>;
export type AccessTokenRevoked = Static<typeof AccessTokenRevokedSchema>;
export type UserDeleted = Static<typeof UserDeletedSchema>;
export type LoginFailed = Static<typeof LoginFailedSchema>;

export type UserEvent =
  | { type: 'UserRegistered'; data: UserRegistered }
  | { type: 'UserProfileUpdated'; data: UserProfileUpdated }
  | { type: 'UserLoggedIn'; data: UserLoggedIn }
  | { type: 'UserPreferencesReplaced'; data: UserPreferencesReplaced }
  | { type: 'AccessTokenRevoked'; data: AccessTokenRevoked }
  | { type: 'UserDeleted'; data: UserDeleted };

export const userEventDefinitions: EventDefinition[] = [
  { type: 'UserRegistered', version: 1, schema: UserRegisteredSchema },
  { type: 'ProviderIdentityLinked', version: 1, schema: ProviderIdentityLinkedSchema },
  { type: 'UserProfileUpdated', version: 1, schema: UserProfileUpdatedSchema },
  { type: 'UserLoggedIn', version: 1, schema: UserLoggedInSchema },
  { type: 'UserPreferencesReplaced', version: 1, schema: UserPreferencesReplacedSchema },
  { type: 'AccessTokenRevoked', version: 1, schema: AccessTokenRevokedSchema },
  { type: 'UserDeleted', version: 1, schema: UserDeletedSchema },
  { type: 'LoginFailed', version: 1, schema: LoginFailedSchema },
];

export const userStreamId = (userId: string) => `user-${userId}`;
export const identityStreamId = (provider: string, providerUserId: string) => `identity-${provider}:${providerUserId}`;
export const USER_STREAM_TYPE = 'user';
export const IDENTITY_STREAM_TYPE = 'provider_identity';
