import type { EphemeralStore } from './ephemeral.js';

/** Revoked access tokens by `jti`, kept only until the token would have expired anyway. */
export class AccessTokenDenylist {
  constructor(private readonly store: EphemeralStore) {}

  async deny(jti: string, exp: number): Promise<void> {
    const ttl = Math.max(1, exp - Math.floor(Date.now() / 1000) + 5);
    await this.store.put(`denied:${jti}`, '1', ttl);
  }

  async isDenied(jti: string): Promise<boolean> {
    return (await this.store.get(`denied:${jti}`)) !== null;
  }
}
