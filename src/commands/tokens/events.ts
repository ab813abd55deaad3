import { Type, type Static } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';

const Hash = Type.String({ pattern: '^[0-9a-f]{64}$' });

export const RefreshTokenIssuedSchema = Type.Object({
  family_id: Type.String({ maxLength: 36 }),
  user_id: Type.String({ maxLength: 36 }),
  token_hash: Hash,
  /** Absolute end of the session, seconds since the epoch: rotation never extends it. */
  session_expires_at: Type.Integer(),
  client_id: Type.Optional(Type.String({ maxLength: 256 })),
});
export const RefreshTokenRotatedSchema = Type.Object({ previous_hash: Hash, token_hash: Hash });
export const RefreshTokenReuseDetectedSchema = Type.Object({ presented_hash: Hash, ip: Type.Optional(Type.String({ maxLength: 100 })) });
/** The family's absolute session ended (recorded by the retention sweep): none of its tokens is accepted again. */
export const TokenFamilyExpiredSchema = Type.Object({ session_expires_at: Type.Integer() });
export const TokenFamilyRevokedSchema = Type.Object({
  reason: Type.Union([Type.Literal('reuse'), Type.Literal('logout'), Type.Literal('revoke'), Type.Literal('user_deleted')]),
});

export const ClientCredentialCreatedSchema = Type.Object({
  credential_id: Type.String({ maxLength: 36 }),
  owner_id: Type.String({ maxLength: 36 }),
  client_id: Type.String({ maxLength: 256 }),
  secret_hash: Hash,
  name: Type.String({ minLength: 1, maxLength: 100 }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  expires_at: Type.Optional(Type.String({ maxLength: 64 })),
});
export const ClientCredentialDeletedSchema = Type.Object({ deleted_by: Type.String({ maxLength: 36 }) });
export const ClientCredentialUsedSchema = Type.Object({ ip: Type.Optional(Type.String({ maxLength: 100 })) });

export type RefreshTokenIssued = Static<typeof RefreshTokenIssuedSchema>;
export type TokenFamilyRevoked = Static<typeof TokenFamilyRevokedSchema>;
export type ClientCredentialCreated = Static<typeof ClientCredentialCreatedSchema>;

export type TokenFamilyEvent =
  | { type: 'RefreshTokenIssued'; data: RefreshTokenIssued }
  | { type: 'RefreshTokenRotated'; data: Static<typeof RefreshTokenRotatedSchema> }
  | { type: 'RefreshTokenReuseDetected'; data: Static<typeof RefreshTokenReuseDetectedSchema> }
  | { type: 'TokenFamilyRevoked'; data: TokenFamilyRevoked }
  | { type: 'TokenFamilyExpired'; data: Static<typeof TokenFamilyExpiredSchema> };

export type ClientCredentialEvent =
  | { type: 'ClientCredentialCreated'; data: ClientCredentialCreated }
  | { type: 'ClientCredentialDeleted'; data: Static<typeof ClientCredentialDeletedSchema> }
  | { type: 'ClientCredentialUsed'; data: Static<typeof ClientCredentialUsedSchema> };

export const tokenEventDefinitions: EventDefinition[] = [
  { type: 'RefreshTokenIssued', version: 1, schema: RefreshTokenIssuedSchema },
  { type: 'RefreshTokenRotated', version: 1, schema: RefreshTokenRotatedSchema },
  { type: 'RefreshTokenReuseDetected', version: 1, schema: RefreshTokenReuseDetectedSchema },
  { type: 'TokenFamilyRevoked', version: 1, schema: TokenFamilyRevokedSchema },
  { type: 'TokenFamilyExpired', version: 1, schema: TokenFamilyExpiredSchema },
  { type: 'ClientCredentialCreated', version: 1, schema: ClientCredentialCreatedSchema },
  { type: 'ClientCredentialDeleted', version: 1, schema: ClientCredentialDeletedSchema },
  { type: 'ClientCredentialUsed', version: 1, schema: ClientCredentialUsedSchema },
];

const TOKEN_FAMILY_STREAM_PREFIX = 'token-family-';
export const tokenFamilyStreamId = (familyId: string) => `${TOKEN_FAMILY_STREAM_PREFIX}${familyId}`;
export const familyIdOfStream = (streamId: string) => streamId.slice(TOKEN_FAMILY_STREAM_PREFIX.length);
export const clientCredentialStreamId = (credentialId: string) => `client-credential-${credentialId}`;
export const TOKEN_FAMILY_STREAM_TYPE = 'token_family';
export const CLIENT_CREDENTIAL_STREAM_TYPE = 'client_credential';
