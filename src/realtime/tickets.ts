import { createHash, randomBytes } from 'node:crypto';
import type { EphemeralStore } from '../auth/ephemeral.js';
import type { Principal } from '../auth/principal.js';

/** What a ticket stands for: the caller who asked for it (as their access token named them) and the session it opens. */
export interface TicketGrant { principal: Principal; session_id: string }

export const TICKET_SECONDS = 30;

/**
 * TMI's WebSocket tickets: a browser cannot send a bearer token with an upgrade, so it trades the
 * token for a ticket (`GET /ws/ticket`) and puts that in the socket's URL. A ticket is random,
 * single-use (taken in one step, so two sockets cannot share it), bound to one user and one session,
 * and lives 30 seconds. Only its hash is stored: a leaked store lists no usable tickets.
 */
export class WsTickets {
  constructor(private readonly store: EphemeralStore, private readonly ttlSeconds = TICKET_SECONDS) {}

  private key = (ticket: string) => `ws-ticket:${createHash('sha256').update(ticket).digest('base64url')}`;

  async issue(grant: TicketGrant): Promise<string> {
    const ticket = randomBytes(32).toString('base64url');
    await this.store.put(this.key(ticket), JSON.stringify(grant), this.ttlSeconds);
    return ticket;
  }

  /** The grant, consumed; null for a ticket unknown, expired, used already or issued for another session. */
  async redeem(ticket: string, sessionId: string): Promise<TicketGrant | null> {
    const raw = await this.store.take(this.key(ticket));
    if (raw === null) return null;
    const grant = JSON.parse(raw) as TicketGrant;
    return grant.session_id === sessionId ? grant : null;
  }
}
