import { randomBytes, randomUUID } from 'node:crypto';
import type { EventStore } from '../events/store.js';
import type { EventMetadata } from '../events/types.js';
import { loadAggregate, type Decider } from '../application/execute-command.js';
import { snapshotAfterAppend } from '../application/snapshots.js';
import { CLIENT_CREDENTIAL_STREAM_TYPE, clientCredentialStreamId, type ClientCredentialEvent } from '../commands/tokens/events.js';
import {
  CREDENTIAL_STATE_VERSION, InvalidClientError, decideCredential, evolveCredential, initialCredentialState,
  type ClientCredentialCommand, type ClientCredentialState,
} from '../commands/tokens/client-credential.js';
import { LOGIN_FAILURE_STREAM_TYPE, loginFailureStreamId } from './login-failures.js';
import type { EphemeralStore } from './ephemeral.js';
import { hashSecret } from './refresh-tokens.js';

const CLIENT_ID = /^tmi_cc_([0-9a-f]{32})$/;

/** Every grant appends ClientCredentialUsed, so a busy credential's stream grows without bound; snapshots keep its reads short. */
export const CREDENTIAL_SNAPSHOT_EVERY = 100;

export const credentialDecider: Decider<ClientCredentialState, ClientCredentialCommand, ClientCredentialEvent> = {
  streamType: CLIENT_CREDENTIAL_STREAM_TYPE, initialState: initialCredentialState, evolve: evolveCredential, decide: decideCredential,
  snapshot: { version: CREDENTIAL_STATE_VERSION, every: CREDENTIAL_SNAPSHOT_EVERY },
};

/** The client id embeds the credential id, so authentication reads the credential's own stream. */
const credentialIdOf = (clientId: string): string | null => {
  const hex = CLIENT_ID.exec(clientId)?.[1];
  return hex ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : null;
};

/** A client id that has failed too often; the HTTP layer answers 429 with Retry-After. */
export class ClientLockedError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many failed authentication attempts');
    this.name = 'ClientLockedError';
  }
}

export interface CreatedCredential { id: string; client_id: string; client_secret: string; name: string; created_at: string; expires_at?: string; position: number }

export class ClientCredentials {
  constructor(
    private readonly store: EventStore,
    private readonly ephemeral: EphemeralStore,
    private readonly lockout: { maxFailures: number; seconds: number },
  ) {}

  private async execute(credentialId: string, command: ClientCredentialCommand, metadata: EventMetadata) {
    const streamId = clientCredentialStreamId(credentialId);
    const loaded = await loadAggregate({ store: this.store }, credentialDecider, streamId);
    const events = decideCredential(command, loaded.state);
    // 'any' is safe here: every decision only needs the state to exist, and Used carries no version-sensitive facts.
    // (So concurrent grants of one credential never conflict, which is why this is not decideAndAppend.)
    const result = await this.store.appendToStream({ stream_id: streamId, stream_type: CLIENT_CREDENTIAL_STREAM_TYPE, expected: loaded.version === 0 ? 'no_stream' : 'any', events }, { metadata });
    const version = result.streams[0]?.version ?? 0;
    // Only when nobody appended in between is the state folded here the stream's state at the new version.
    if (version === loaded.version + events.length) {
      void snapshotAfterAppend(this.store, credentialDecider, streamId, loaded.snapshotVersion, events.reduce(evolveCredential, loaded.state), version);
    }
    return { state: loaded.state, position: result.position };
  }

  async create(ownerId: string, input: { name: string; description?: string; expires_at?: string }, metadata: EventMetadata): Promise<CreatedCredential> {
    const id = randomUUID();
    const clientId = `tmi_cc_${id.replaceAll('-', '')}`;
    const secret = randomBytes(32).toString('base64url');
    const { position } = await this.execute(id, { type: 'CreateCredential', credential_id: id, owner_id: ownerId, client_id: clientId, secret_hash: hashSecret(secret), name: input.name, ...(input.description ? { description: input.description } : {}), ...(input.expires_at ? { expires_at: input.expires_at } : {}) }, metadata);
    return { id, client_id: clientId, client_secret: secret, name: input.name, created_at: new Date().toISOString(), ...(input.expires_at ? { expires_at: input.expires_at } : {}), position };
  }

  async delete(ownerId: string, credentialId: string, metadata: EventMetadata): Promise<number> {
    return (await this.execute(credentialId, { type: 'DeleteCredential', requester_id: ownerId }, metadata)).position;
  }

  /**
   * Checks a client id and secret, counting failures per client id: an attacker rotating
   * addresses against one client is stopped by the lockout, not only by per-IP limits.
   */
  async authenticate(clientId: string, secret: string, metadata: EventMetadata, ip?: string): Promise<{ owner_id: string; credential_id: string }> {
    const key = `cc-failures:${clientId.slice(0, 200)}`;
    const failures = Number(await this.ephemeral.get(key) ?? 0);
    if (failures >= this.lockout.maxFailures) throw new ClientLockedError(Math.max(1, await this.ephemeral.ttl(key)));
    const credentialId = credentialIdOf(clientId);
    try {
      if (!credentialId) throw new InvalidClientError('unknown');
      const { state } = await this.execute(credentialId, { type: 'Authenticate', secret_hash: hashSecret(secret), now: new Date(), ...(ip ? { ip } : {}) }, metadata);
      // Most authentications follow no failure; only a counter that exists needs clearing.
      if (failures > 0) await this.ephemeral.delete(key);
      return { owner_id: state.owner_id, credential_id: credentialId };
    } catch (err) {
      if (!(err instanceof InvalidClientError)) throw err;
      await this.ephemeral.increment(key, this.lockout.seconds);
      await this.store.appendToStream({ stream_id: loginFailureStreamId(), stream_type: LOGIN_FAILURE_STREAM_TYPE, expected: 'no_stream', events: [{ type: 'LoginFailed', data: { provider: 'client_credentials', reason: err.reason, claimed: clientId.slice(0, 500), ...(ip ? { ip } : {}) } }] }, { metadata });
      throw err;
    }
  }
}
