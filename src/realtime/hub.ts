import type { WebSocket } from 'ws';
import { randomUUID } from 'node:crypto';
import { loadAggregate } from '../application/execute-command.js';
import type { Principal } from '../auth/principal.js';
import { childStreamId } from '../commands/child-resources/index.js';
import { DIAGRAM_CELLS_PATCHED, diagrams } from '../commands/diagrams/index.js';
import { DomainError } from '../commands/errors.js';
import { requireThreatModelRole, userFromCaller } from '../commands/threat-models/authorization.js';
import { actorOf } from '../auth/audit.js';
import { authModule } from '../auth/module.js';
import { findThreatModel } from '../queries/threat-models.js';
import { collaborationDecider, permissionOf } from './sessions/decide.js';
import { collaborationStreamId } from './sessions/events.js';
import { UUID_PATTERN, type User } from '../commands/threat-models/values.js';
import { CommandIdReusedError } from '../events/errors.js';
import type { EventMetadata } from '../events/types.js';
import type { Config } from '../config/schema.js';
import type { Services } from '../services.js';
import type { DiagramFeed, FeedEvent, FeedMessage } from './feed.js';
import { collaborationCommand } from '../application/collaboration.js';
import { executePlannedCommand } from '../application/multi-stream-command.js';
import { activeSessionOf } from '../queries/collaboration-sessions.js';
import { inbound, outbound, type DiagramOperationRequest, type InboundType } from './messages.js';
import { PerSecond, RoomPresence, sameUser } from './presence.js';
import { hubMetrics, type HubMetrics } from './metrics.js';
import { OperationRejected } from './operations/decide.js';
import { DiagramRoom, type RoomMember, type RoomSource } from './room.js';
import { DiagramWriter, NothingInHistory, WriterClosedError, type AppliedOperation, type WriterStats } from './writer.js';
import type { Permission } from './sessions/events.js';
import { COLLABORATION_SESSIONS_PROJECTION } from '../projections/collaboration-sessions.js';

const UUID = new RegExp(UUID_PATTERN);

/** The messages that change the diagram, which the per-socket operation rate counts. */
const OPERATIONS = new Set<unknown>(['diagram_operation_request', 'undo_request', 'redo_request']);

/** A message that is no JSON text (or binary). */
const NOT_JSON = Symbol('not JSON');
const shuttingDown = (operationId: string | undefined) =>
  outbound.error('server_shutting_down', 'the server is shutting down: send it again after reconnecting', operationId ? { operation_id: operationId } : undefined);
const parseJson = (text: string): unknown => { try { return JSON.parse(text); } catch { return NOT_JSON; } };

/** A message sent to a whole room is one object: it is serialized once, not once per socket. */
const texts = new WeakMap<object, string>();
function serialized(message: object): string {
  let text = texts.get(message);
  if (text === undefined) texts.set(message, text = JSON.stringify(message));
  return text;
}

type PresenceMessage =
  | { message_type: 'presenter_request' }
  | { message_type: 'change_presenter_request'; new_presenter: Pick<User, 'provider' | 'provider_id'> }
  | { message_type: 'presenter_denied_request'; denied_user: Pick<User, 'provider' | 'provider_id'> }
  | { message_type: 'presenter_cursor'; cursor_position: { x: number; y: number } }
  | { message_type: 'presenter_selection'; selected_cells: string[] };

/** Who is on a socket and what the session lets them do, settled before the upgrade. */
export interface Connection {
  principal: Principal;
  threat_model_id: string;
  diagram_id: string;
  session_id: string;
  permissions: Permission;
  host: User;
  host_user_id: string;
  presenter: User | null;
}

/** The hub's limits and intervals: the `realtime` section of the configuration (its keys are documented in src/config/schema.ts). */
export type HubOptions = Config['realtime'];

/** WebSocket close codes: TMI's session end, and the service going away. */
export const CLOSE = { sessionEnded: 4000, removed: 4003, tokenInvalid: 4401, accessLost: 4403, goingAway: 1001, slowConsumer: 1013 } as const;

/** A diagram's room on this instance, its presence, its feed subscription and the sockets still joining it. */
interface RoomEntry { diagramId: string; room: DiagramRoom; presence: RoomPresence; unsubscribe: () => void; joining: Set<Member> }

interface Member extends RoomMember {
  id: string; connection: Connection; user: User; joinedAt: string; socket: WebSocket; alive: boolean;
  /** This socket's operations handed to the writer and not answered yet. */
  answering: Set<Promise<void>>;
}

/**
 * The collaboration hub: the diagrams' rooms, the sockets in them, and TMI's messages. An
 * operation from a writer becomes one event on the diagram's stream (its version the sequence
 * number); the hub publishes it to the feed after the commit, and every room on the diagram —
 * on this instance or another — delivers it in sequence order. Nothing a socket sends is trusted
 * before its schema check; nothing a reader sends changes the diagram.
 */
export class CollaborationHub {
  private readonly rooms = new Map<string, RoomEntry>();
  private closing = false;
  private closed: Promise<void> | null = null;
  /** Diagrams whose host's last socket here closed: the session ends when the grace runs out with the host nowhere. */
  private readonly pendingEnds = new Map<string, { timer: NodeJS.Timeout; unsubscribe: () => void }>();
  /** Each diagram's writer on this instance: its operations decided one after another and committed in batches. */
  private readonly writers = new Map<string, DiagramWriter>();
  /** Operations handed to a writer whose answers are not sent yet (shutdown waits for them). */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timers: NodeJS.Timeout[];
  private readonly metrics: HubMetrics;
  private readonly operationRate: PerSecond;

  constructor(private readonly services: Services, private readonly feed: DiagramFeed, private readonly options: HubOptions) {
    this.metrics = hubMetrics(services.metrics, {
      connections: () => [...this.rooms.values()].reduce((n, e) => n + e.room.members.size, 0),
      rooms: () => this.rooms.size,
    });
    this.operationRate = new PerSecond(options.operations_per_second);
    const every = (ms: number, task: () => void) => { const t = setInterval(task, ms); t.unref(); return t; };
    this.timers = [
      every(options.head_check_ms, () => { for (const { room } of this.rooms.values()) void room.checkHead().catch(() => {}); }),
      every(options.access_check_ms, () => { for (const entry of this.rooms.values()) void this.checkAccess(entry).catch((err: unknown) => this.services.log.warn({ err }, 'collaboration access check failed')); }),
      every(options.ping_interval_ms, () => this.ping()),
      every(options.session_liveness_ms, () => void this.recordLiveness().catch((err: unknown) => this.livenessFailed(err))),
    ];
  }

  private livenessFailed(err: unknown): void { this.services.log.warn({ err }, 'recording collaboration liveness failed'); }

  /** The sessions with a socket connected here, marked as in use now (one statement for every room). */
  private async recordLiveness(): Promise<void> {
    const sessions = new Set<string>();
    for (const entry of this.rooms.values()) for (const m of this.membersOf(entry.room)) sessions.add(m.connection.session_id);
    await this.markLive(sessions);
  }

  private async markLive(sessions: ReadonlySet<string>): Promise<void> {
    if (sessions.size === 0) return;
    await this.services.database.pool.query(
      `insert into collaboration_liveness (session_id, seen_at) select unnest($1::uuid[]), now()
       on conflict (session_id) do update set seen_at = excluded.seen_at`,
      // Sorted: two instances upserting the same sessions take their row locks in one order.
      [[...sessions].sort()]);
  }

  /**
   * Every socket's right to stay, checked again: its token expired or was revoked (4401), its
   * user lost access to the threat model or the threat model went away (4403). A role that
   * changed changes the permission (a reader promoted edits without reconnecting).
   */
  private async checkAccess(entry: RoomEntry): Promise<void> {
    const members = this.membersOf(entry.room);
    if (members.length === 0) return;
    const { revocations } = authModule(this.services);
    const view = await findThreatModel(this.services.database.pool, members[0]!.connection.threat_model_id);
    // The session from its stream: an end or a removal whose announcement was lost (Redis down, a socket mid-join) is found here.
    const collaboration = await loadAggregate(this.services, collaborationDecider, collaborationStreamId(members[0]!.connection.diagram_id));
    const { session } = collaboration.state;
    // What the writer holds is checked against the same reads: a change announced nowhere (Redis down, another instance's REST write) is caught up on.
    const writer = this.writers.get(entry.diagramId);
    writer?.observe('session', collaboration.version);
    if (view) writer?.observe('threat_model', view.version);
    let changed = false;
    for (const m of members) {
      const { principal } = m.connection;
      if (!session || session.session_id !== m.connection.session_id) { this.dismiss(m, 'session_ended', 'the collaboration session has ended'); continue; }
      if (session.removed.includes(principal.user_id)) { this.dismiss(m, 'removed'); continue; }
      if (principal.exp * 1000 <= Date.now() || revocations.isRevoked(principal.jti, principal.user_id)) {
        m.send(outbound.error('unauthorized', 'the access token behind this connection expired or was revoked'));
        this.closeMember(m, CLOSE.tokenInvalid, 'token expired or revoked', 'token');
        continue;
      }
      let permissions: Permission;
      try {
        permissions = permissionOf(requireThreatModelRole(view, principal, 'reader').role);
      } catch {
        m.send(outbound.error('forbidden', 'you no longer have access to this threat model'));
        this.closeMember(m, CLOSE.accessLost, 'access lost', 'access');
        continue;
      }
      if (permissions !== m.connection.permissions) { m.connection.permissions = permissions; changed = true; }
    }
    if (changed) this.announceParticipants(entry.room);
  }

  /** Pings every socket; one that did not answer the previous ping is gone. */
  private ping(): void {
    for (const { room } of this.rooms.values()) {
      for (const m of this.membersOf(room)) {
        if (!m.alive) { this.metrics.closes.inc({ reason: 'not_answering' }); m.socket.terminate(); continue; }
        m.alive = false;
        m.socket.ping();
      }
    }
  }

  /** A socket authorized for a session: it joins its diagram's room and gets the diagram's state. */
  async connect(socket: WebSocket, connection: Connection): Promise<void> {
    // An upgrade past its checks when the shutdown began: no room is made for it after the rooms were closed.
    if (this.closing) return socket.close(CLOSE.goingAway, 'server shutting down');
    const member: Member = {
      id: randomUUID(), connection, socket, user: userFromCaller(connection.principal), joinedAt: new Date().toISOString(), lastSent: 0, alive: true, answering: new Set(),
      send: (message) => {
        if (socket.readyState !== socket.OPEN) return;
        // A client that stops reading must not make the server hold everything it did not read.
        if (socket.bufferedAmount > this.options.max_buffered_bytes) { this.closeMember(member, CLOSE.slowConsumer, 'too far behind: reconnect and resync', 'slow_consumer'); return; }
        socket.send(serialized(message));
        this.metrics.message('out', (message as { message_type: string }).message_type);
      },
    };
    socket.on('pong', () => { member.alive = true; });
    // Listeners first, before anything awaits: a message sent right after the upgrade waits for
    // the join instead of being lost, and a close during the join is seen. Messages are handled
    // one after another, in the order the socket sent them.
    let resolveJoined!: (entry: RoomEntry | null) => void;
    const joined = new Promise<RoomEntry | null>((resolve) => { resolveJoined = resolve; });
    let work: Promise<unknown> = joined;
    socket.on('message', (raw: Buffer, isBinary: boolean) => {
      const message = isBinary ? NOT_JSON : parseJson(raw.toString('utf8'));
      // Counted as it arrives, not as its turn comes: operations queued behind slow commits still count against their second.
      const limited = OPERATIONS.has((message as { message_type?: unknown } | undefined)?.message_type) && !this.operationRate.admit(member);
      work = work.then(async () => {
        const entry = await joined;
        if (entry) await this.handle(entry.room, member, message, limited);
      }).catch((err: unknown) => {
        this.services.log.error({ err, diagram_id: connection.diagram_id }, 'collaboration message failed');
        member.send(outbound.error('internal_error', 'the message could not be handled'));
      });
    });
    socket.on('close', () => { void joined.then((entry) => { if (entry) this.leave(entry, member); }); });
    let entry: RoomEntry | undefined;
    try {
      entry = await this.roomOf(connection);
      // Counted before the join awaits, so the room is not released under it (its last member leaving meanwhile).
      entry.joining.add(member);
      try {
        await entry.room.join(member, (snapshot) => member.send(outbound.diagramState(connection.diagram_id, snapshot.version, snapshot.cells, snapshot.palette)));
      } finally {
        entry.joining.delete(member);
      }
      resolveJoined(entry);
      // In use from the first socket on, not from the next liveness tick: a sweep meanwhile must not end it under them.
      void this.markLive(new Set([connection.session_id])).catch((err: unknown) => this.livenessFailed(err));
      // The shutdown began while it joined, perhaps after it closed the rooms' sockets: this one goes too (its close leaves the room).
      if (this.closing) return this.closeMember(member, CLOSE.goingAway, 'server shutting down', 'going_away');
      if (this.isHost(member)) {
        // Back within the grace, here or on another instance: no instance ends the session.
        this.cancelEnd(connection.diagram_id);
        this.feed.publish(connection.diagram_id, { kind: 'host_present', session_id: connection.session_id });
      }
      if (socket.readyState === socket.OPEN) this.announceParticipants(entry.room);
    } catch (err) {
      resolveJoined(null);
      // A room made for this socket alone (a first join whose snapshot failed to load) would otherwise stay, subscribed, with nobody in it.
      if (entry) this.release(entry);
      socket.close(1011, 'could not join the session');
      throw err;
    }
  }

  /** A diagram's session ended (committed): every instance closes its sockets on it with TMI's message. */
  endSession(diagramId: string, reason: string): void {
    this.feed.publish(diagramId, { kind: 'ended', reason });
  }

  /** Publishes an event the hub committed; every room on the diagram, here or elsewhere, delivers it. */
  private publish(diagramId: string, event: FeedEvent): void {
    this.feed.publish(diagramId, { kind: 'event', event });
  }

  /** What the feed brings for a diagram with sockets here. */
  private hear(entry: RoomEntry, message: FeedMessage): void {
    const { room, presence } = entry;
    const members = this.membersOf(room);
    switch (message.kind) {
      case 'event':
        return room.receive(message.event);
      case 'ended':
        this.writers.get(entry.diagramId)?.invalidate();
        for (const m of members) this.dismiss(m, 'session_ended', `the collaboration session has ended (${message.reason})`);
        return;
      case 'removed':
        this.writers.get(entry.diagramId)?.invalidate();
        for (const m of members.filter((x) => x.connection.principal.user_id === message.user_id)) this.dismiss(m, 'removed');
        return;
      case 'presenter':
        presence.presenter = message.presenter;
        return this.announceParticipants(room);
      case 'presenter_requested':
        for (const h of members.filter((m) => this.isHost(m))) h.send(outbound.presenterRequestEvent(message.requesting));
        return;
      case 'presenter_denied':
        for (const m of members.filter((x) => sameUser(x.user, message.denied))) m.send(outbound.presenterDeniedEvent(m.user));
        return;
      case 'relay':
        for (const m of members) if (m.id !== message.from) m.send(message.message);
        return;
      case 'host_query':
        if (members.some((m) => this.isHost(m) && m.connection.session_id === message.session_id)) this.feed.publish(members[0]!.connection.diagram_id, { kind: 'host_present', session_id: message.session_id });
        return;
      case 'host_present':
        return;
    }
  }

  /** TMI's message, then the close: the session ended, or the host removed the socket's user. */
  private dismiss(m: Member, why: 'session_ended' | 'removed', message = 'the host removed you from this collaboration session'): void {
    if (why === 'session_ended') {
      m.send(outbound.error('session_ended', message));
      this.closeMember(m, CLOSE.sessionEnded, 'session ended', 'session_ended');
    } else {
      m.send(outbound.error('removed_from_session', message));
      this.closeMember(m, CLOSE.removed, 'removed by the host', 'removed');
    }
  }

  private closeMember(m: Member, code: number, reason: string, label: string): void {
    if (m.socket.readyState === m.socket.CLOSED || m.socket.readyState === m.socket.CLOSING) return;
    this.metrics.closes.inc({ reason: label });
    m.socket.close(code, reason);
  }

  /**
   * Why a new socket may not join, or null: one user's sockets on this instance and one
   * diagram's connected users are capped (TMI's max_diagram_participants).
   */
  admission(connection: Pick<Connection, 'diagram_id' | 'principal'>): string | null {
    const userId = connection.principal.user_id;
    let own = 0;
    for (const e of this.rooms.values()) for (const m of this.presentIn(e)) if (m.connection.principal.user_id === userId) own++;
    if (own >= this.options.max_connections_per_user) return `you have ${own} collaboration connections open here already (at most ${this.options.max_connections_per_user})`;
    const entry = this.rooms.get(connection.diagram_id);
    const users = new Set(entry ? this.presentIn(entry).map((m) => m.connection.principal.user_id) : []);
    if (!users.has(userId) && users.size >= this.options.max_participants) return `the session has ${users.size} participants connected (at most ${this.options.max_participants})`;
    return null;
  }

  /** Shutdown: the operations in flight commit (and are published), then every socket is told the server is going away. */
  close(): Promise<void> {
    // Once: a second call (the socket plugin's preClose after a test's own) waits for the first.
    this.closed ??= this.shutDown();
    return this.closed;
  }

  private async shutDown(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    for (const diagramId of [...this.pendingEnds.keys()]) this.cancelEnd(diagramId);
    await Promise.allSettled([...this.writers.values()].map((w) => w.close()));
    // Answers still being sent (a resend's confirmation, a rejection's resync), until none is left.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    // The last commits' deliveries: each room delivers up to the store's head (its publishes may still be on their way, through
    // Redis or queued behind the room's steps) before its sockets hear the server is going away.
    await Promise.allSettled([...this.rooms.values()].map(({ room }) => room.checkHead()));
    for (const { room, unsubscribe } of this.rooms.values()) {
      unsubscribe();
      for (const m of room.members as Set<Member>) this.closeMember(m, CLOSE.goingAway, 'server shutting down', 'going_away');
    }
    this.rooms.clear();
    await this.feed.close();
  }

  private async roomOf(connection: Connection): Promise<RoomEntry> {
    const { threat_model_id: threatModelId, diagram_id: diagramId } = connection;
    const existing = this.rooms.get(diagramId);
    if (existing) return existing;
    const streamId = childStreamId('diagram', diagramId);
    const { store } = this.services;
    const source: RoomSource = {
      eventsFrom: async (fromVersion) => (await store.readStream(streamId, { fromVersion })).map((e) => ({ version: e.version, type: e.type, data: e.data })),
      head: () => store.streamVersion(streamId),
      snapshot: async () => {
        const { state, version } = await loadAggregate(this.services, diagrams.decider, streamId);
        if (!state.exists || state.threat_model_id !== threatModelId) return { version, cells: [], palette: undefined };
        return { version, cells: state.fields.cells, palette: state.fields.color_palette ?? undefined };
      },
    };
    const head = await source.head();
    // Another connect may have made the room while the head was read.
    const raced = this.rooms.get(diagramId);
    if (raced) return raced;
    const room = new DiagramRoom(diagramId, source, head, (err) => this.services.log.warn({ err, diagram_id: diagramId }, 'collaboration room step failed'),
      (event) => {
        this.writers.get(diagramId)?.observe('diagram', event.version);
        if (event.published_at !== undefined) this.metrics.fanout.observe(Math.max(0, Date.now() - event.published_at) / 1000);
      });
    const entry: RoomEntry = { diagramId, room, unsubscribe: () => {}, presence: new RoomPresence(connection.presenter ?? connection.host, this.options.presence_per_second), joining: new Set() };
    entry.unsubscribe = this.feed.subscribe(diagramId, (message) => this.hear(entry, message));
    this.rooms.set(diagramId, entry);
    return entry;
  }

  private leave(entry: RoomEntry, member: Member): void {
    const { room } = entry;
    room.leave(member);
    const present = this.presentIn(entry);
    // TMI: the host leaving ends the session for everyone (a shutdown is not leaving).
    if (this.isHost(member) && !present.some((m) => this.isHost(m)) && !this.closing) this.hostLeft(member);
    if (present.length === 0) return this.release(entry);
    this.announceParticipants(room);
  }

  /** A room nobody here is in or joining any more: its feed subscription goes, and its writer once drained. */
  private release(entry: RoomEntry): void {
    if (this.presentIn(entry).length > 0 || this.rooms.get(entry.diagramId) !== entry) return;
    entry.unsubscribe();
    this.rooms.delete(entry.diagramId);
    this.dropWriter(entry.diagramId);
  }

  /** A diagram nobody here edits any more: its writer goes once its last batch is answered (a new room starts from the store). */
  private dropWriter(diagramId: string): void {
    const writer = this.writers.get(diagramId);
    if (writer) void writer.drained().then(() => { if (!this.rooms.has(diagramId) && this.writers.get(diagramId) === writer) this.writers.delete(diagramId); });
  }

  /** TMI's participants_update: who is connected now (each user once), the host and the presenter. */
  private announceParticipants(room: DiagramRoom): void {
    const members = this.membersOf(room);
    if (members.length === 0) return;
    const seen = new Map<string, { user: User; permissions: Permission; last_activity: string }>();
    for (const m of members) seen.set(m.connection.principal.user_id, { user: m.user, permissions: m.connection.permissions, last_activity: m.joinedAt });
    const { host, diagram_id } = members[0]!.connection;
    const message = outbound.participants([...seen.values()], host, this.rooms.get(diagram_id)?.presence.presenter ?? null);
    for (const m of members) m.send(message);
  }

  private async handle(room: DiagramRoom, member: Member, message: unknown, limited: boolean): Promise<void> {
    if (message === NOT_JSON) return member.send(outbound.error('invalid_message', 'a message is one JSON object'));
    const type = (message as { message_type?: unknown } | undefined)?.message_type;
    const known = typeof type === 'string' && Object.hasOwn(inbound, type);
    this.metrics.message('in', known ? type : 'unknown');
    if (typeof type !== 'string') return member.send(outbound.error('invalid_message', 'a message is a JSON object with a message_type'));
    if (!known) return member.send(outbound.error('invalid_message', `unknown message_type ${type.slice(0, 64)}`));
    const check = inbound[type as InboundType];
    if (!check.Check(message)) {
      const first = check.Errors(message).First();
      const operationId = (message as { operation_id?: unknown }).operation_id;
      if (type === 'diagram_operation_request' && typeof operationId === 'string' && UUID.test(operationId)) {
        return member.send(outbound.rejected(operationId, member.lastSent, {
          reason: 'validation_failed', message: 'the operation is not a valid diagram_operation_request', details: `${first?.path || '/'}: ${first?.message ?? 'invalid'}`, affected: [], resync: false,
        }));
      }
      return member.send(outbound.error('invalid_message', `not a valid ${type}`, { path: first?.path || '/', problem: first?.message ?? 'invalid' }));
    }
    if (limited) {
      this.metrics.operations.inc({ outcome: 'rate_limited' });
      const operationId = (message as { operation_id?: string }).operation_id;
      return member.send(outbound.error('rate_limited', `at most ${this.options.operations_per_second} operations a second per connection: this one was not applied`, operationId ? { operation_id: operationId } : undefined));
    }
    switch (type as InboundType) {
      // Handed to the diagram's writer in the order they came, without waiting for the commit: the
      // socket's next operation joins the same batch instead of waiting a round trip.
      case 'diagram_operation_request': {
        const request = message as DiagramOperationRequest;
        return this.handOver(room, member, request.operation_id, () => this.operate(room, member, request));
      }
      case 'undo_request':
        return this.handOver(room, member, undefined, () => this.step(room, member, 'undo'));
      case 'redo_request':
        return this.handOver(room, member, undefined, () => this.step(room, member, 'redo'));
      case 'presenter_request':
      case 'change_presenter_request':
      case 'presenter_denied_request':
      case 'presenter_cursor':
      case 'presenter_selection':
        return this.present(room, member, message as PresenceMessage);
      case 'remove_participant_request':
        return this.remove(member, (message as unknown as { removed_user: Pick<User, 'provider' | 'provider_id'> }).removed_user);
      case 'sync_status_request':
        // Answered after the socket's operations before it, as if each had waited for its commit.
        await Promise.allSettled([...member.answering]);
        return room.status(member);
      case 'sync_request': {
        await Promise.allSettled([...member.answering]);
        const known = (message as { update_vector?: number | null }).update_vector;
        if (known === undefined || known === null) return room.resync(member);
        return room.catchUp(member, known, this.options.replay_max_events);
      }
    }
  }

  /**
   * An operation of this socket to its diagram's writer, its answer tracked: not once the socket
   * left its room (messages queued behind a close) or the hub began shutting down.
   */
  private handOver(room: DiagramRoom, member: Member, operationId: string | undefined, answer: () => Promise<void>): void {
    if (this.closing) return member.send(shuttingDown(operationId));
    if (!room.members.has(member) || this.rooms.get(member.connection.diagram_id)?.room !== room) return;
    const tracked = answer().catch((err: unknown) => {
      this.services.log.error({ err, diagram_id: member.connection.diagram_id }, 'collaboration operation failed');
      member.send(outbound.error('internal_error', 'the operation could not be handled', operationId ? { operation_id: operationId } : undefined));
    }).finally(() => { this.inFlight.delete(tracked); member.answering.delete(tracked); });
    this.inFlight.add(tracked);
    member.answering.add(tracked);
  }

  /** What a diagram's writer on this instance read to keep its state (undefined without one): `/metrics` totals them, tests bound them per diagram. */
  writerStats(diagramId: string): Readonly<WriterStats> | undefined {
    return this.writers.get(diagramId)?.stats;
  }

  private writerOf(connection: Connection): DiagramWriter {
    let writer = this.writers.get(connection.diagram_id);
    if (!writer) {
      writer = new DiagramWriter(this.services, connection.threat_model_id, connection.diagram_id, { window: this.options.replay_max_events, onBatch: (n) => this.metrics.batch.observe(n) });
      this.writers.set(connection.diagram_id, writer);
    }
    return writer;
  }

  private operate(room: DiagramRoom, member: Member, request: DiagramOperationRequest): Promise<void> {
    // Ids as sent: a cell's id is data (REST keeps it as written), and a resend repeats its operation id exactly.
    const cells = request.operation.cells.map((c) => ({ id: c.id, operation: c.operation, ...(c.data !== undefined ? { data: c.data } : {}) }));
    const operationId = request.operation_id;
    return this.change(room, member, operationId, () => this.writerOf(member.connection).operate(member.connection.principal, this.targetOf(member),
      { operation_id: operationId, base_vector: request.base_vector, cells }, this.metadata(member.connection, operationId)));
  }

  /** TMI's undo_request / redo_request: the caller's newest step of this session reverted by a new operation. */
  private async step(room: DiagramRoom, member: Member, kind: 'undo' | 'redo'): Promise<void> {
    const operationId = randomUUID();
    try {
      await this.change(room, member, operationId, () => this.writerOf(member.connection).step(member.connection.principal, this.targetOf(member), kind, operationId,
        this.metadata(member.connection, operationId)));
    } catch (err) {
      if (!(err instanceof NothingInHistory)) throw err;
      member.send(outbound.historyOperation(kind));
    }
  }

  private targetOf = (member: Member) => ({ threat_model_id: member.connection.threat_model_id, diagram_id: member.connection.diagram_id, session_id: member.connection.session_id });

  /** A change of the diagram by a writer: published once committed, or answered with why not (it took no number). */
  private async change(room: DiagramRoom, member: Member, operationId: string, apply: () => Promise<AppliedOperation>): Promise<void> {
    const { connection } = member;
    if (connection.permissions !== 'writer') {
      this.metrics.operations.inc({ outcome: 'read_only_user' });
      return member.send(outbound.authorizationDenied(operationId, 'read_only_user'));
    }
    try {
      const applied = await apply();
      this.metrics.operations.inc({ outcome: applied.replayed ? 'replayed' : 'accepted' });
      // A resend: the original was published when it was applied; this socket may have missed it (a reconnect), so it hears it again.
      if (applied.replayed) await room.confirm(member, applied.sequence_number, applied.data);
      else this.publish(connection.diagram_id, { version: applied.sequence_number, type: DIAGRAM_CELLS_PATCHED, data: applied.data, published_at: Date.now() });
    } catch (err) {
      // The last version this socket was sent, not the store's head: a client is never told of a sequence number before
      // it received it (the head may hold another instance's event still on its way), and a rejection needs no read that could fail.
      const version = member.lastSent;
      if (err instanceof OperationRejected) {
        this.metrics.operations.inc({ outcome: err.reason });
        member.send(outbound.rejected(operationId, version, {
          reason: err.reason, message: err.message, ...(err.details ? { details: err.details } : {}), affected: err.affectedCells, resync: err.requiresResync,
        }));
        // A client that must resync is sent the diagram as it is, with the cells it conflicted on.
        if (err.requiresResync) await room.resync(member);
        return;
      }
      if (err instanceof WriterClosedError) return member.send(shuttingDown(operationId));
      if (err instanceof CommandIdReusedError) {
        return member.send(outbound.rejected(operationId, version, { reason: 'validation_failed', message: 'this operation_id was already used for another operation', affected: [], resync: false }));
      }
      if (err instanceof DomainError && err.kind === 'forbidden') return member.send(outbound.authorizationDenied(operationId, 'insufficient_permissions'));
      if (err instanceof DomainError && err.kind === 'not_found') {
        return member.send(outbound.rejected(operationId, version, { reason: 'diagram_not_found', message: err.message, affected: [], resync: true }));
      }
      throw err;
    }
  }

  private isHost = (m: Member) => m.connection.principal.user_id === m.connection.host_user_id;

  private membersOf(room: DiagramRoom): Member[] {
    return [...room.members] as Member[];
  }

  /** A room's sockets, those still joining it included. */
  private presentIn(entry: RoomEntry): Member[] {
    return [...this.membersOf(entry.room), ...entry.joining];
  }

  /**
   * Presenter mode as TMI has it: anyone asks to present and the host decides (a host asking
   * presents at once); the host hands presenting to a connected participant or denies a request;
   * the presenter's cursor and selection go to everyone else, throttled per sender.
   */
  private async present(room: DiagramRoom, member: Member, message: PresenceMessage): Promise<void> {
    const { diagram_id: diagramId } = member.connection;
    const presence = this.rooms.get(diagramId)?.presence;
    if (!presence) return;
    switch (message.message_type) {
      case 'presenter_request':
        // Through the feed: the host may be connected to another instance.
        if (this.isHost(member)) return this.feed.publish(diagramId, { kind: 'presenter', presenter: member.user });
        return this.feed.publish(diagramId, { kind: 'presenter_requested', requesting: member.user });
      case 'change_presenter_request':
      case 'presenter_denied_request': {
        if (!this.isHost(member)) return member.send(outbound.error('not_host', `only the session's host sends ${message.message_type}`));
        const named = message.message_type === 'change_presenter_request' ? message.new_presenter : message.denied_user;
        // A participant of the session, wherever connected.
        const session = await activeSessionOf(this.services.database.pool, member.connection.threat_model_id, diagramId);
        const target = session?.participants.find((p) => sameUser(p.user, named));
        if (!target) return member.send(outbound.error('invalid_user', 'that user is not a participant of this session'));
        if (message.message_type === 'presenter_denied_request') return this.feed.publish(diagramId, { kind: 'presenter_denied', denied: target.user });
        return this.feed.publish(diagramId, { kind: 'presenter', presenter: target.user });
      }
      case 'presenter_cursor':
      case 'presenter_selection': {
        if (!presence.presenter || !sameUser(presence.presenter, member.user)) return member.send(outbound.error('not_presenter', 'only the current presenter shares a cursor or selection'));
        if (!presence.relayed.admit(member)) return;
        this.feed.publish(diagramId, { kind: 'relay', from: member.id, message });
      }
    }
  }

  /** TMI's remove_participant_request: the host removes a participant, who is disconnected and cannot join this session again. */
  private async remove(member: Member, named: Pick<User, 'provider' | 'provider_id'>): Promise<void> {
    const { connection } = member;
    if (!this.isHost(member)) return member.send(outbound.error('not_host', 'only the session\'s host removes a participant'));
    const session = await activeSessionOf(this.services.database.pool, connection.threat_model_id, connection.diagram_id);
    const target = session?.participants.find((p) => sameUser(p.user, named));
    if (!target) return member.send(outbound.error('invalid_user', 'that user is not a participant of this session'));
    try {
      await this.collaborate(connection, { type: 'Remove', user_id: target.user_id });
    } catch (err) {
      if (err instanceof DomainError) return member.send(outbound.error(err.kind, err.message));
      throw err;
    }
    this.feed.publish(connection.diagram_id, { kind: 'removed', user_id: target.user_id });
  }

  /**
   * The host's last socket on this instance closed. The session ends if, after the grace
   * (`realtime.host_grace_ms`), the host has not come back here and no other instance answered
   * that it has the host connected: a reload, a reconnect with a new ticket or a second tab on
   * another instance is not leaving.
   */
  private hostLeft(host: Member): void {
    const { diagram_id: diagramId, session_id: sessionId } = host.connection;
    if (this.pendingEnds.has(diagramId)) return;
    const unsubscribe = this.feed.subscribe(diagramId, (m) => { if (m.kind === 'host_present' && m.session_id === sessionId) this.cancelEnd(diagramId); });
    const timer = setTimeout(() => {
      this.pendingEnds.delete(diagramId);
      unsubscribe();
      void this.endAsHost(host).catch((err: unknown) => this.services.log.warn({ err, diagram_id: diagramId }, 'ending the session as its host left failed'));
    }, this.options.host_grace_ms);
    timer.unref();
    this.pendingEnds.set(diagramId, { timer, unsubscribe });
    this.feed.publish(diagramId, { kind: 'host_query', session_id: sessionId });
  }

  private cancelEnd(diagramId: string): void {
    const pending = this.pendingEnds.get(diagramId);
    if (!pending) return;
    clearTimeout(pending.timer);
    pending.unsubscribe();
    this.pendingEnds.delete(diagramId);
  }

  /** The host left for good: their session (not a newer one) ends, and every instance hears it only if it did. */
  private async endAsHost(host: Member): Promise<void> {
    const { connection } = host;
    try {
      await this.collaborate(connection, { type: 'End', reason: 'host_left', session_id: connection.session_id });
    } catch (err) {
      // Ended already (by the owner, or by another instance's grace), or the diagram is gone: nothing to announce.
      if (err instanceof DomainError && err.kind === 'not_found') return;
      throw err;
    }
    this.endSession(connection.diagram_id, 'the host left');
  }

  /** A command on the session, by the socket's user, visible in the sessions table before it answers. */
  private collaborate(connection: Connection, body: Parameters<typeof collaborationCommand>[4]) {
    return executePlannedCommand(this.services, collaborationCommand(this.services, connection.principal, connection.threat_model_id, connection.diagram_id, body),
      { commandId: null, commandFingerprint: null, metadata: this.metadata(connection, randomUUID()), projections: [COLLABORATION_SESSIONS_PROJECTION], waitForProjections: true });
  }

  private metadata(connection: Connection, operationId: string): EventMetadata {
    return {
      actor: actorOf(connection.principal),
      trace_id: null, correlation_id: connection.session_id, causation_id: operationId, request_id: null,
    };
  }
}
