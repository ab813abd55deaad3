import pg from 'pg';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { EventCatalog } from '../events/catalog.js';
import { SAFE_HORIZON_SQL, settledThrough } from '../events/position.js';
import type { AccessTokenRevoked } from '../commands/users/events.js';
import { MAX_ACCESS_TOKEN_LIFETIME_SECONDS } from '../config/schema.js';

/** The NOTIFY channel the events table's trigger announces revocations on (db/migrations/0010). */
export const REVOCATION_CHANNEL = 'tmi_access_revoked';
/** application_name of the listening connection, so operators (and tests) can tell it apart. */
export const REVOCATION_LISTENER_NAME = 'tmi-es-revocations';

/**
 * How long an entry outlives what it covers: the verifier's clock tolerance (5 s) plus slack
 * for clock skew between the instance that issued a token and the one checking it.
 */
const GRACE_SECONDS = 30;
/**
 * How long a deletion is remembered, and how far back start-up reads: the longest lifetime any
 * token could have been issued with, so changing auth.jwt.expiration_seconds never lets an
 * older, longer-lived revoked token back in. (A revoked token's own entry ends with its `exp`.)
 */
const REMEMBER_SECONDS = MAX_ACCESS_TOKEN_LIFETIME_SECONDS + GRACE_SECONDS;
const BATCH = 1000;
const SWEEP_EVERY_MS = 30_000;
const USER_STREAM_PREFIX = 'user-';

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Revoked token ids and deleted users, in memory, each kept only until every token it covers
 * has expired: the set never grows beyond the revocations of one token lifetime.
 */
export class RevocationSet {
  private readonly tokens = new Map<string, number>();
  private readonly users = new Map<string, number>();

  isRevoked(jti: string, userId: string): boolean {
    return this.tokens.has(jti) || this.users.has(userId);
  }

  /** The token `jti` is refused until it has expired (`expiresAt`, Unix seconds). */
  revokeToken(jti: string, expiresAt: number, now = nowSeconds()): void {
    const until = expiresAt + GRACE_SECONDS;
    if (until > now && until > (this.tokens.get(jti) ?? 0)) this.tokens.set(jti, until);
  }

  /** Every token of the user is refused until `until` (Unix seconds): no token issued before it outlives it. */
  revokeUser(userId: string, until: number, now = nowSeconds()): void {
    if (until > now && until > (this.users.get(userId) ?? 0)) this.users.set(userId, until);
  }

  /** Drops entries whose tokens have all expired; returns how many are left. */
  sweep(now = nowSeconds()): number {
    for (const map of [this.tokens, this.users]) for (const [key, until] of map) if (until <= now) map.delete(key);
    return this.size;
  }

  get size(): number {
    return this.tokens.size + this.users.size;
  }
}

export interface RevocationFeedOptions {
  /** The safety-net poll of the events table (auth.revocation_poll_ms). */
  pollIntervalMs: number;
  log: Logger;
  metrics?: Registry;
}

interface RevocationRow { position: number | null; type: string | null; schema_version: number | null; stream_id: string | null; data: unknown; at: number | null; horizon: number }

// Revocations after a position, committed or not yet settled: applying one twice is harmless, so the
// poll need not wait for the horizon to see a revocation; only the checkpoint keeps to the horizon.
const REVOCATIONS_AFTER_SQL = `
with h as (select ${SAFE_HORIZON_SQL} as horizon)
select h.horizon, e.position, e.type, e.schema_version, e.stream_id, e.data, extract(epoch from e.created_at)::float8 as at
from h left join lateral (
  select position, type, schema_version, stream_id, data, created_at from events
  where type in ('AccessTokenRevoked', 'UserDeleted') and position > $1
  order by position limit $2
) e on true`;

// Where start-up begins: the first revocation young enough to cover a live token (partial index
// events_revocations_by_time), or the horizon when there is none.
const START_SQL = `
select (select min(position) from events
        where type in ('AccessTokenRevoked', 'UserDeleted') and created_at > now() - make_interval(secs => $1)) as first,
       ${SAFE_HORIZON_SQL} as horizon`;

/**
 * Which access tokens are revoked, known to every instance without asking anyone per request:
 * the check is a lookup in a RevocationSet. The set is fed by the revocation events
 * (`AccessTokenRevoked`, `UserDeleted`) in PostgreSQL:
 *
 * - at start-up, every revocation recent enough to cover a token that has not expired;
 * - by the instance that revokes, at once (`revokeToken` / `revokeUser`);
 * - from every other instance through LISTEN on the trigger's NOTIFY, within milliseconds;
 * - by a poll of the events table every `pollIntervalMs`, from a gap-safe checkpoint, as the
 *   safety net for notifications lost while the listener reconnects.
 *
 * With PostgreSQL down the check keeps answering from memory; nothing can be revoked meanwhile
 * anyway (the event cannot be appended), and the poll resumes from its checkpoint afterwards.
 */
export class AccessTokenRevocations {
  readonly set = new RevocationSet();
  /** Every revocation at or below this position has been applied. */
  private checkpoint = 0;
  private listener: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private started: Promise<void> | null = null;
  /** Counts starts and stops: a start that finds it changed was stopped (and maybe started again) meanwhile. */
  private run = 0;
  private stopped = false;
  private failing = false;
  private listenerDown = false;
  private lastSweep = 0;
  private lastCaughtUp = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly databaseUrl: string,
    private readonly catalog: EventCatalog,
    private readonly options: RevocationFeedOptions,
  ) {
    if (options.metrics) this.registerMetrics(options.metrics);
  }

  isRevoked(jti: string, userId: string): boolean {
    return this.set.isRevoked(jti, userId);
  }

  /** This instance refuses the token from now on; the AccessTokenRevoked event the caller appends tells the others. */
  revokeToken(jti: string, expiresAt: number): void {
    this.set.revokeToken(jti, expiresAt);
  }

  /** This instance refuses every token of the user from now on; the UserDeleted event tells the others. */
  revokeUser(userId: string): void {
    this.set.revokeUser(userId, nowSeconds() + REMEMBER_SECONDS);
  }

  /** Loads the revocations in force (must succeed before requests are served), then listens and polls. */
  start(): Promise<void> {
    this.started ??= this.startRun(++this.run);
    return this.started;
  }

  /**
   * A stop may come at any await of a start (a shutdown during start-up): the start then gives
   * up where it is, quietly — no poll timer, no listener, and no error from a pool closed under it.
   */
  private async startRun(run: number): Promise<void> {
    const current = () => this.run === run;
    this.stopped = false;
    try {
      await this.listen();
      if (!current()) return;
      const { rows } = await this.pool.query<{ first: number | null; horizon: number }>(START_SQL, [REMEMBER_SECONDS]);
      if (!current()) return;
      const settled = settledThrough(Number(rows[0]!.horizon));
      this.checkpoint = rows[0]!.first === null ? settled : Math.min(Number(rows[0]!.first) - 1, settled);
      await this.catchUp();
      if (!current()) return;
      this.timer = setInterval(() => void this.tick(), this.options.pollIntervalMs);
      this.timer.unref();
    } catch (err) {
      if (current()) throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.run++;
    const starting = this.started;
    this.started = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // An interrupted start has nothing left to do once it notices; waiting for it means nothing of it runs after stop().
    await starting?.catch(() => {});
    await this.connecting;
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => {});
  }

  /** One safety-net round: reconnect the listener if it was lost, read what came after the checkpoint, drop expired entries. */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      if (!this.listener) await this.listen();
      await this.catchUp();
      if (this.failing) this.options.log.info('revocation feed recovered');
      this.failing = false;
      if (Date.now() - this.lastSweep > SWEEP_EVERY_MS) {
        this.lastSweep = Date.now();
        this.set.sweep();
      }
    } catch (err) {
      // A round cut short by stop() (its pool closing) is no outage.
      if (this.stopped) return;
      // Requests keep being checked against what is known; say so once per outage, not every second.
      if (!this.failing) this.options.log.warn({ err }, 'revocation feed unavailable; checking tokens against the revocations known so far');
      this.failing = true;
    } finally {
      this.ticking = false;
    }
  }

  private async catchUp(): Promise<void> {
    let cursor = this.checkpoint;
    let firstHorizon: number | null = null;
    for (;;) {
      const { rows } = await this.pool.query<RevocationRow>({ name: 'tmi_revocations_after', text: REVOCATIONS_AFTER_SQL, values: [cursor, BATCH] });
      // The first read's horizon bounds the checkpoint: a later batch's snapshot may not see an event a still-open transaction commits below it.
      firstHorizon ??= Number(rows[0]!.horizon);
      const found = rows.filter((r) => r.position !== null);
      for (const r of found) this.apply(r.type!, r.schema_version!, r.stream_id!, r.data, r.at!);
      if (found.length < BATCH) break;
      cursor = Number(found[found.length - 1]!.position);
    }
    this.checkpoint = Math.max(this.checkpoint, settledThrough(firstHorizon));
    this.lastCaughtUp = Date.now();
  }

  private apply(type: string, schemaVersion: number, streamId: string, stored: unknown, at: number): void {
    const { data } = this.catalog.upcast(type, schemaVersion, stored);
    if (type === 'AccessTokenRevoked') {
      const { jti, expires_at } = data as AccessTokenRevoked;
      this.set.revokeToken(jti, expires_at);
    } else if (type === 'UserDeleted' && streamId.startsWith(USER_STREAM_PREFIX)) {
      // No token of a deleted user can be issued after the deletion, so none outlives deletion + the longest lifetime.
      this.set.revokeUser(streamId.slice(USER_STREAM_PREFIX.length), Math.ceil(at) + REMEMBER_SECONDS);
    }
  }

  private onNotification(payload: string | undefined): void {
    try {
      const n = JSON.parse(payload ?? '') as { type: string; schema_version: number; stream_id: string; data: unknown; at: number };
      this.apply(n.type, n.schema_version, n.stream_id, n.data, n.at);
    } catch (err) {
      // The poll reads the event anyway.
      this.options.log.warn({ err }, 'unreadable revocation notification');
    }
  }

  private listen(): Promise<void> {
    if (this.listener || this.stopped) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.databaseUrl, application_name: REVOCATION_LISTENER_NAME, connectionTimeoutMillis: 5000 });
      const lost = () => {
        if (this.listener === client) this.listener = null;
      };
      client.on('notification', (msg) => this.onNotification(msg.payload));
      client.on('error', (err) => {
        if (this.listener === client) this.options.log.warn({ err }, 'revocation listener lost; the poll covers until it reconnects');
        lost();
        client.end().catch(() => {});
      });
      client.on('end', lost);
      try {
        await client.connect();
        await client.query(`listen ${REVOCATION_CHANNEL}`);
        if (this.stopped) await client.end();
        else this.listener = client;
        if (this.listenerDown) this.options.log.info('revocation listener reconnected');
        this.listenerDown = false;
      } catch (err) {
        // Once per outage: every poll tick tries again.
        if (!this.listenerDown) this.options.log.warn({ err }, 'revocation listener unavailable; polling until it reconnects');
        this.listenerDown = true;
        await client.end().catch(() => {});
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  private registerMetrics(registry: Registry): void {
    const size = () => this.set.size;
    const age = () => (this.lastCaughtUp ? (Date.now() - this.lastCaughtUp) / 1000 : 0);
    new Gauge({
      name: 'tmi_revocations_in_memory',
      help: 'Revoked access tokens and deleted users this instance refuses, kept until their tokens expire',
      registers: [registry],
      collect() { this.set(size()); },
    });
    new Gauge({
      name: 'tmi_revocation_feed_age_seconds',
      help: 'Seconds since the revocation poll last read the events table (grows while PostgreSQL is unreachable)',
      registers: [registry],
      collect() { this.set(age()); },
    });
  }
}
