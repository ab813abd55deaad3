import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { decideAndAppend, loadAggregate, type Decider } from '../application/execute-command.js';
import type { EventStore } from '../events/store.js';
import type { EventMetadata } from '../events/types.js';
import {
  RefreshTokenRefused, decideFamily, evolveFamily, initialFamilyState, type TokenFamilyCommand, type TokenFamilyState,
} from '../commands/tokens/family.js';
import { TOKEN_FAMILY_STREAM_TYPE, tokenFamilyStreamId, type TokenFamilyEvent, type TokenFamilyRevoked } from '../commands/tokens/events.js';

const familyDecider: Decider<TokenFamilyState, TokenFamilyCommand, TokenFamilyEvent> = {
  streamType: TOKEN_FAMILY_STREAM_TYPE, initialState: initialFamilyState, evolve: evolveFamily, decide: decideFamily,
};

const TOKEN = /^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$/;

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

function mint(familyId: string): { token: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { token: `${familyId.replaceAll('-', '')}.${secret}`, hash: hashSecret(secret) };
}

/**
 * Parses `<family id>.<secret>`. The family id lets a refresh read its family's stream, which
 * is strongly consistent, instead of a projection that may lag behind the last rotation.
 */
function parse(token: string): { familyId: string; hash: string } | null {
  const m = TOKEN.exec(token);
  if (!m) return null;
  const hex = m[1]!;
  const familyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { familyId, hash: hashSecret(m[2]!) };
}

/** Refresh-token families as event streams: rotation appends at an expected version, so each token is spent once. */
export class RefreshTokens {
  constructor(private readonly store: EventStore, private readonly sessionSeconds: number) {}

  async start(userId: string, metadata: EventMetadata): Promise<string> {
    const familyId = randomUUID();
    const { token, hash } = mint(familyId);
    await this.run(familyId, { type: 'StartFamily', family_id: familyId, user_id: userId, token_hash: hash, session_expires_at: Math.floor(Date.now() / 1000) + this.sessionSeconds }, metadata, true);
    return token;
  }

  /**
   * A concurrent rotation that won makes the presented token spent: deciding again sees reuse.
   * `byPresenter`: the command comes from whoever holds a token of the family, known only once it is read.
   */
  private run(familyId: string, command: TokenFamilyCommand, metadata: EventMetadata, newStream = false, byPresenter = true) {
    return decideAndAppend(this.store, familyDecider, command, {
      streamId: tokenFamilyStreamId(familyId), newStream, expectedVersion: null, commandId: null, retries: 5,
      metadata: (state) => (metadata.actor.user_id || !byPresenter ? metadata : { ...metadata, actor: { ...metadata.actor, user_id: state.user_id } }),
    });
  }

  private async family(familyId: string): Promise<TokenFamilyState> {
    return (await loadAggregate({ store: this.store }, familyDecider, tokenFamilyStreamId(familyId))).state;
  }

  /** Spends the presented token and returns its successor, or throws RefreshTokenRefused. */
  async rotate(token: string, metadata: EventMetadata, ip?: string): Promise<{ user_id: string; token: string }> {
    const parsed = parse(token);
    if (!parsed) throw new RefreshTokenRefused('unknown');
    const next = mint(parsed.familyId);
    const { state, events } = await this.run(parsed.familyId, { type: 'Rotate', presented_hash: parsed.hash, new_hash: next.hash, now: Math.floor(Date.now() / 1000), ...(ip ? { ip } : {}) }, metadata);
    if (events.some((e) => e.type === 'RefreshTokenReuseDetected')) throw new RefreshTokenRefused('reused');
    return { user_id: state.user_id, token: next.token };
  }

  /** Revokes the family of a token the caller holds (current or spent); unknown tokens are ignored (RFC 7009). */
  async revoke(token: string, reason: TokenFamilyRevoked['reason'], metadata: EventMetadata): Promise<{ user_id: string } | null> {
    const parsed = parse(token);
    if (!parsed) return null;
    const state = await this.family(parsed.familyId);
    if (state.status === 'none' || (state.current_hash !== parsed.hash && !state.spent.includes(parsed.hash))) return null;
    await this.run(parsed.familyId, { type: 'RevokeFamily', reason }, metadata);
    return { user_id: state.user_id };
  }

  /** Records that the family's session has ended (TokenFamilyExpired); false when it was not live (revoked, expired already, or not over yet). */
  async expire(familyId: string, metadata: EventMetadata, now = Math.floor(Date.now() / 1000)): Promise<boolean> {
    // Nobody presented anything: the service records it, and the event names no user as its actor.
    const { events } = await this.run(familyId, { type: 'ExpireFamily', now }, metadata, false, false);
    return events.length > 0;
  }

  /** The family a token belongs to, for introspection; null when it is not a live current token. */
  async inspect(token: string): Promise<TokenFamilyState | null> {
    const parsed = parse(token);
    if (!parsed) return null;
    const state = await this.family(parsed.familyId);
    const live = state.status === 'active' && state.current_hash === parsed.hash && state.session_expires_at > Date.now() / 1000;
    return live ? state : null;
  }
}
