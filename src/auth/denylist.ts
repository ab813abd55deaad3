import type { EphemeralStore } from './ephemeral.js';

/**
 * Revoked access tokens by `jti`, and deleted users by id, each kept only until the tokens
 * they cover would have expired anyway.
 */
export class AccessTokenDenylist {
  constructor(private readonly store: EphemeralStore, private readonly tokenLifetimeSeconds: number) {}

  async deny(jti: string, exp: number): Promise<void> {
    const ttl = Math.max(1, exp - Math.floor(Date.now() / 1000) + 5);
    await this.store.put(`denied:${jti}`, '1', ttl);
  }

  /** Every token issued to the user so far stops working: a deleted account keeps no sessions. */
  async denyUser(userId: string): Promise<void> {
    await this.store.put(`denied-user:${userId}`, String(Math.floor(Date.now() / 1000)), this.tokenLifetimeSeconds + 5);
  }

  async isDenied(jti: string, userId?: string): Promise<boolean> {
    return this.store.anyExists(userId ? [`denied:${jti}`, `denied-user:${userId}`] : [`denied:${jti}`]);
  }
}
