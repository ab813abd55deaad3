import { Type, type Static } from '@sinclair/typebox';

/** One OAuth/OIDC identity provider, as TMI's `auth.oauth.providers.<id>` section. */
export const ProviderConfigSchema = Type.Object({
  id: Type.String({ minLength: 1, pattern: '^[a-zA-Z0-9_-]+$' }),
  name: Type.String({ minLength: 1 }),
  kind: Type.Union([Type.Literal('oidc'), Type.Literal('github'), Type.Literal('tmi')]),
  enabled: Type.Boolean({ default: true }),
  issuer: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  client_secret: Type.Optional(Type.String()),
  scopes: Type.Array(Type.String(), { default: ['openid', 'profile', 'email'] }),
  icon: Type.Optional(Type.String()),
  groups_claim: Type.Optional(Type.String()),
  authorization_url: Type.Optional(Type.String()),
  token_url: Type.Optional(Type.String()),
  userinfo_url: Type.Optional(Type.String()),
});
export type ProviderConfig = Static<typeof ProviderConfigSchema>;

/** The longest access-token lifetime configuration allows; revocations are remembered at least this long (src/auth/revocations.ts). */
export const MAX_ACCESS_TOKEN_LIFETIME_SECONDS = 86400;

export const ConfigSchema = Type.Object({
  mode: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  server: Type.Object({
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    /**
     * Where `worker` answers `/metrics`, `/healthz` and `/readyz` (on `host`): what it records (its retention
     * runs, its queues, its runtime) is seen only there. 0: no listener. `serve` uses `port` alone.
     */
    worker_metrics_port: Type.Integer({ minimum: 0, maximum: 65535, default: 9464 }),
    public_url: Type.String({ default: 'http://localhost:8080' }),
    shutdown_timeout_ms: Type.Integer({ minimum: 0, default: 10000 }),
    body_limit_bytes: Type.Integer({ minimum: 1024, default: 1048576 }),
    trust_proxy: Type.Boolean({ default: false }),
    read_your_writes_timeout_ms: Type.Integer({ minimum: 0, default: 2000 }),
    require_if_match: Type.Boolean({ default: false }),
    run_projections: Type.Boolean({ default: true }),
    /** How often every projection is woken regardless of wake-ups: the net for lost ones (crash between commit and enqueue, Redis down). */
    projection_safety_net_ms: Type.Integer({ minimum: 100, default: 5000 }),
    /** How often settled events are sealed in an event chain checkpoint (tamper evidence for removed stream tails). */
    chain_checkpoint_ms: Type.Integer({ minimum: 100, default: 60000 }),
    cors_origins: Type.Array(Type.String(), { default: [] }),
    /** How often the operator console's lag chart gets a reading of every projection. */
    console_lag_sample_ms: Type.Integer({ minimum: 100, default: 5000 }),
  }),
  database: Type.Object({
    url: Type.Optional(Type.String({ minLength: 1 })),
    pool_size: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
    embedded_port: Type.Integer({ minimum: 1024, maximum: 32767, default: 15432 }),
    embedded_data_dir: Type.String({ default: '.data/postgres' }),
  }),
  redis: Type.Object({
    url: Type.Optional(Type.String({ minLength: 1 })),
    prefix: Type.String({ default: 'tmi' }),
  }),
  auth: Type.Object({
    jwt: Type.Object({
      secret: Type.String({ minLength: 32, default: 'development-only-secret-change-me-please-0123456789' }),
      algorithm: Type.Union([Type.Literal('HS256'), Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA')], { default: 'HS256' }),
      private_key: Type.Optional(Type.String()),
      public_key: Type.Optional(Type.String()),
      key_id: Type.String({ default: 'tmi-key-1' }),
      expiration_seconds: Type.Integer({ minimum: 60, maximum: MAX_ACCESS_TOKEN_LIFETIME_SECONDS, default: 3600 }),
      refresh_session_seconds: Type.Integer({ minimum: 300, default: 604800 }),
      issuer: Type.Optional(Type.String()),
      audience: Type.String({ default: 'tmi' }),
    }),
    oauth: Type.Object({
      callback_allowlist: Type.Array(Type.String(), { default: ['http://localhost:4200/', 'http://localhost:8079/', 'http://127.0.0.1:'] }),
      providers: Type.Array(ProviderConfigSchema, { default: [] }),
    }),
    administrators: Type.Array(Type.Object({
      provider: Type.String(),
      subject: Type.Optional(Type.String()),
      email: Type.Optional(Type.String()),
    }), { default: [] }),
    /** Security-reviewer grants, same shape as administrators. */
    security_reviewers: Type.Array(Type.Object({
      provider: Type.String(),
      subject: Type.Optional(Type.String()),
      email: Type.Optional(Type.String()),
    }), { default: [] }),
    cookies: Type.Boolean({ default: false }),
    /** Failed client-credential attempts per client id before it is locked, and for how long. */
    client_credentials_max_failures: Type.Integer({ minimum: 1, default: 5 }),
    client_credentials_lockout_seconds: Type.Integer({ minimum: 1, default: 900 }),
    /** Safety-net poll for revocations made on other instances (notifications normally arrive at once). */
    revocation_poll_ms: Type.Integer({ minimum: 100, maximum: 60000, default: 1000 }),
  }),
  rate_limit: Type.Object({
    enabled: Type.Boolean({ default: true }),
    public_per_minute: Type.Integer({ minimum: 1, default: 600 }),
    auth_per_minute: Type.Integer({ minimum: 1, default: 120 }),
    user_per_minute: Type.Integer({ minimum: 1, default: 6000 }),
    /** Window the per-minute limits are counted over; tests shorten it. */
    window_ms: Type.Integer({ minimum: 1000, default: 60000 }),
  }),
  logging: Type.Object({
    level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  }),
  limits: Type.Object({
    websocket_max_message_bytes: Type.Integer({ minimum: 1024, default: 1048576 }),
    /** Most events one `as_of` read folds (every stream it reads, from their first event); a read that needs more is refused (400). */
    as_of_max_events: Type.Integer({ minimum: 1, default: 20000 }),
  }),
  realtime: Type.Object({
    /** Most missed operations a reconnecting client is replayed; further behind, it gets the diagram's state. */
    replay_max_events: Type.Integer({ minimum: 0, default: 1000 }),
    /** How often each active diagram's head is read from PostgreSQL, to deliver events no publish announced. */
    head_check_ms: Type.Integer({ minimum: 100, default: 2000 }),
    /** Most presenter cursor and selection messages relayed per second from one presenter; the rest are dropped. */
    presence_per_second: Type.Integer({ minimum: 1, default: 30 }),
    /** How often each socket's token and role are checked again: an expired or revoked token closes it (4401), lost access too (4403). */
    access_check_ms: Type.Integer({ minimum: 100, default: 5000 }),
    /**
     * How often each instance records that its rooms' sessions have sockets connected: a session
     * only watched (no event) stays in use for the retention sweep. Keep it well below
     * `retention.collaboration_idle_seconds`.
     */
    session_liveness_ms: Type.Integer({ minimum: 100, default: 60000 }),
    /** Ping interval; a socket that has not answered the previous ping is dropped. */
    ping_interval_ms: Type.Integer({ minimum: 100, default: 30000 }),
    /** A socket whose unsent messages exceed this is closed (1013): a slow consumer must not hold the server's memory. */
    max_buffered_bytes: Type.Integer({ minimum: 65536, default: 8388608 }),
    /** Most diagram operations (undos and redos included) one socket may send a second; more are refused with an error. */
    operations_per_second: Type.Integer({ minimum: 1, default: 50 }),
    /** Most collaboration sockets one user holds open on one instance; more are refused before the upgrade (429). */
    max_connections_per_user: Type.Integer({ minimum: 1, default: 10 }),
    /** How long a session outlives its host's last socket: a reload, a new ticket after the token expired, another instance. */
    host_grace_ms: Type.Integer({ minimum: 0, default: 15000 }),
    /** Most users connected to one diagram's session on one instance (TMI's max_diagram_participants); more are refused (429). */
    max_participants: Type.Integer({ minimum: 1, default: 100 }),
  }),
  /** What expires, how long it is kept, and how often the sweep runs (src/retention). */
  retention: Type.Object({
    enabled: Type.Boolean({ default: true }),
    /** How often the retention sweep runs (a BullMQ job scheduler: once per interval across all instances). */
    interval_ms: Type.Integer({ minimum: 1000, default: 600000 }),
    /** Rows removed (or records expired) per statement: a large backlog is cleared in many short steps, never one long lock. */
    batch_size: Type.Integer({ minimum: 1, maximum: 10000, default: 1000 }),
    /**
     * How long an Idempotency-Key is remembered: a resend within it replays, never applies again.
     * After it the key may be swept, and the same key then counts as new.
     */
    idempotency_seconds: Type.Integer({ minimum: 3600, default: 86400 }),
    /** How long a resolved or skipped dead letter is kept after it was resolved or skipped (pending ones are never removed). */
    dead_letter_seconds: Type.Integer({ minimum: 0, default: 2592000 }),
    /** A collaboration session with no event on its own or its diagram's stream for this long is ended (reason `expired`). */
    collaboration_idle_seconds: Type.Integer({ minimum: 1, default: 86400 }),
  }),
});

export type Config = Static<typeof ConfigSchema>;
