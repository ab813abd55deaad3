import type { User } from '../commands/threat-models/values.js';

/** Two names of a user are the same user when provider and provider id agree. */
export const sameUser = (a: Pick<User, 'provider' | 'provider_id'>, b: Pick<User, 'provider' | 'provider_id'>): boolean =>
  a.provider === b.provider && a.provider_id === b.provider_id;

/**
 * A diagram's presence on one instance: who presents, and how often each presenter's cursor and
 * selection are relayed. Ephemeral by design — never an event, gone with the room — since a
 * cursor position is worth nothing a second later.
 */
export class RoomPresence {
  readonly relayed: PerSecond;

  constructor(public presenter: User | null, perSecond: number) {
    this.relayed = new PerSecond(perSecond);
  }
}

/** At most `limit` of something per sender and wall-clock second; what is over is refused. */
export class PerSecond {
  private readonly seen = new WeakMap<object, { second: number; count: number }>();

  constructor(private readonly limit: number) {}

  admit(sender: object, now = Date.now()): boolean {
    const second = Math.floor(now / 1000);
    const seen = this.seen.get(sender);
    if (!seen || seen.second !== second) {
      this.seen.set(sender, { second, count: 1 });
      return true;
    }
    if (seen.count >= this.limit) return false;
    seen.count += 1;
    return true;
  }
}
