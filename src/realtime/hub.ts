import type { WebSocket } from 'ws';
import { applyDiagramOperation } from '../application/diagram-operation.js';
import { loadAggregate } from '../application/execute-command.js';
import type { Principal } from '../auth/principal.js';
import { childStreamId } from '../commands/child-resources/index.js';
import { diagrams } from '../commands/diagrams/index.js';
import { DomainError } from '../commands/errors.js';
import { userFromCaller } from '../commands/threat-models/authorization.js';
import type { User } from '../commands/threat-models/values.js';
import { CommandIdReusedError } from '../events/errors.js';
import type { EventMetadata } from '../events/types.js';
import type { Services } from '../services.js';
import type { DiagramFeed, FeedEvent } from './feed.js';
import { NOT_YET_SUPPORTED, inbound, outbound, type DiagramOperationRequest, type InboundType } from './messages.js';
import { OperationRejected } from './operations/decide.js';
import { DiagramRoom, type RoomMember, type RoomSource } from './room.js';
import type { Permission } from './sessions/events.js';

/** Who is on a socket and what the session lets them do, settled before the upgrade. */
export interface Connection {
  principal: Principal;
  threat_model_id: string;
  diagram_id: string;
  session_id: string;
  permissions: Permission;
  host: User;
  presenter: User | null;
}

export interface HubOptions {
  /** Most missed events a catch-up replays; further behind, a client gets the diagram's state. */
  replayMaxEvents: number;
  /** How often each room asks the store for its diagram's head, to find events nobody published. */
  headCheckMs: number;
}

/** WebSocket close codes: TMI's session end, and the service going away. */
export const CLOSE = { sessionEnded: 4000, goingAway: 1001 } as const;

interface Member extends RoomMember { connection: Connection; user: User; joinedAt: string; socket: WebSocket }

/**
 * The collaboration hub: the diagrams' rooms, the sockets in them, and TMI's messages. An
 * operation from a writer becomes one event on the diagram's stream (its version the sequence
 * number); the hub publishes it to the feed after the commit, and every room on the diagram —
 * on this instance or another — delivers it in sequence order. Nothing a socket sends is trusted
 * before its schema check; nothing a reader sends changes the diagram.
 */
export class CollaborationHub {
  private readonly rooms = new Map<string, { room: DiagramRoom; unsubscribe: () => void }>();
  /** Each diagram's operations on this instance, one after another: they would only race each other for the next number. */
  private readonly operating = new Map<string, Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly services: Services, private readonly feed: DiagramFeed, private readonly options: HubOptions) {
    this.timer = setInterval(() => { for (const { room } of this.rooms.values()) void room.checkHead().catch(() => {}); }, options.headCheckMs);
    this.timer.unref();
  }

  /** A socket authorized for a session: it joins its diagram's room and gets the diagram's state. */
  async connect(socket: WebSocket, connection: Connection): Promise<void> {
    const room = await this.roomOf(connection.threat_model_id, connection.diagram_id);
    const member: Member = {
      connection, socket, user: userFromCaller(connection.principal), joinedAt: new Date().toISOString(), lastSent: 0,
      send: (message) => { if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message)); },
    };
    let work: Promise<unknown> = Promise.resolve();
    // A socket's messages are handled one after another, in the order it sent them.
    socket.on('message', (raw: Buffer, isBinary: boolean) => {
      work = work.then(() => this.handle(room, member, isBinary ? null : raw.toString('utf8'))).catch((err: unknown) => {
        this.services.log.error({ err, diagram_id: connection.diagram_id }, 'collaboration message failed');
        member.send(outbound.error('internal_error', 'the message could not be handled'));
      });
    });
    socket.on('close', () => this.leave(room, member));
    await room.join(member, (snapshot) => member.send(outbound.diagramState(connection.diagram_id, snapshot.version, snapshot.cells, snapshot.palette)));
    this.announceParticipants(room);
  }

  /** Ends a diagram's session on this instance: every socket on it is closed with TMI's message. */
  endSession(diagramId: string, reason: string): void {
    const entry = this.rooms.get(diagramId);
    if (!entry) return;
    for (const m of entry.room.members as Set<Member>) {
      m.send(outbound.error('session_ended', `the collaboration session has ended (${reason})`));
      m.socket.close(CLOSE.sessionEnded, 'session ended');
    }
  }

  /** Publishes an event the hub committed; every room on the diagram, here or elsewhere, delivers it. */
  private publish(diagramId: string, event: FeedEvent): void {
    this.feed.publish(diagramId, event);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const { room, unsubscribe } of this.rooms.values()) {
      unsubscribe();
      for (const m of room.members as Set<Member>) m.socket.close(CLOSE.goingAway, 'server shutting down');
    }
    this.rooms.clear();
  }

  private async roomOf(threatModelId: string, diagramId: string): Promise<DiagramRoom> {
    const existing = this.rooms.get(diagramId);
    if (existing) return existing.room;
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
    if (raced) return raced.room;
    const room = new DiagramRoom(diagramId, source, head, (err) => this.services.log.warn({ err, diagram_id: diagramId }, 'collaboration room step failed'));
    const unsubscribe = this.feed.subscribe(diagramId, (event) => room.receive(event));
    this.rooms.set(diagramId, { room, unsubscribe });
    return room;
  }

  private leave(room: DiagramRoom, member: Member): void {
    room.leave(member);
    if (room.members.size === 0) {
      const entry = this.rooms.get(member.connection.diagram_id);
      if (entry?.room === room) {
        entry.unsubscribe();
        this.rooms.delete(member.connection.diagram_id);
      }
      return;
    }
    this.announceParticipants(room);
  }

  /** TMI's participants_update: who is connected now (each user once), the host and the presenter. */
  private announceParticipants(room: DiagramRoom): void {
    const members = [...room.members] as Member[];
    if (members.length === 0) return;
    const seen = new Map<string, { user: User; permissions: Permission; last_activity: string }>();
    for (const m of members) seen.set(m.connection.principal.user_id, { user: m.user, permissions: m.connection.permissions, last_activity: m.joinedAt });
    const { host, presenter } = members[0]!.connection;
    const message = outbound.participants([...seen.values()], host, presenter ?? host);
    for (const m of members) m.send(message);
  }

  private async handle(room: DiagramRoom, member: Member, raw: string | null): Promise<void> {
    let message: unknown;
    try {
      message = raw === null ? undefined : JSON.parse(raw);
    } catch {
      return member.send(outbound.error('invalid_message', 'a message is one JSON object'));
    }
    const type = (message as { message_type?: unknown } | undefined)?.message_type;
    if (typeof type !== 'string') return member.send(outbound.error('invalid_message', 'a message is a JSON object with a message_type'));
    if (NOT_YET_SUPPORTED.has(type)) return member.send(outbound.error('not_supported', `${type} is not supported by this server yet`));
    if (!Object.hasOwn(inbound, type)) return member.send(outbound.error('invalid_message', `unknown message_type ${type.slice(0, 64)}`));
    const check = inbound[type as InboundType];
    if (!check.Check(message)) {
      const first = check.Errors(message).First();
      const operationId = (message as { operation_id?: unknown }).operation_id;
      if (type === 'diagram_operation_request' && typeof operationId === 'string' && operationId.length <= 64) {
        return member.send(outbound.rejected(operationId, member.lastSent, {
          reason: 'validation_failed', message: 'the operation is not a valid diagram_operation_request', details: `${first?.path || '/'}: ${first?.message ?? 'invalid'}`, affected: [], resync: false,
        }));
      }
      return member.send(outbound.error('invalid_message', `not a valid ${type}`, { path: first?.path || '/', problem: first?.message ?? 'invalid' }));
    }
    switch (type as InboundType) {
      case 'diagram_operation_request':
        return this.inTurn(member.connection.diagram_id, () => this.operate(room, member, message as DiagramOperationRequest));
      case 'sync_status_request':
        return member.send(outbound.syncStatus((await this.services.store.streamVersion(childStreamId('diagram', member.connection.diagram_id)))));
      case 'sync_request': {
        const known = (message as { update_vector?: number | null }).update_vector;
        if (known === undefined || known === null) return room.resync(member);
        return room.catchUp(member, known, this.options.replayMaxEvents);
      }
    }
  }

  private inTurn<T>(diagramId: string, task: () => Promise<T>): Promise<T> {
    const run = (this.operating.get(diagramId) ?? Promise.resolve()).then(task);
    const settled = run.catch(() => {});
    this.operating.set(diagramId, settled);
    void settled.then(() => { if (this.operating.get(diagramId) === settled) this.operating.delete(diagramId); });
    return run;
  }

  private async operate(room: DiagramRoom, member: Member, request: DiagramOperationRequest): Promise<void> {
    const { connection } = member;
    if (connection.permissions !== 'writer') return member.send(outbound.authorizationDenied(request.operation_id, 'read_only_user'));
    const cells = request.operation.cells.map((c) => ({ id: c.id.toLowerCase(), operation: c.operation, ...(c.data !== undefined ? { data: c.data } : {}) }));
    try {
      const applied = await applyDiagramOperation(this.services, connection.principal, connection.threat_model_id, connection.diagram_id,
        { operation_id: request.operation_id.toLowerCase(), base_vector: request.base_vector, cells }, this.metadata(connection, request.operation_id));
      const event: FeedEvent = { version: applied.sequence_number, type: 'DiagramCellsPatched', data: applied.data };
      // A resend: the original was published when it was applied; this socket may have missed it (a reconnect), so it hears it again.
      if (applied.replayed) member.send(outbound.operationEvent(applied.data, applied.sequence_number));
      else this.publish(connection.diagram_id, event);
    } catch (err) {
      const version = () => this.services.store.streamVersion(childStreamId('diagram', connection.diagram_id));
      if (err instanceof OperationRejected) {
        member.send(outbound.rejected(request.operation_id, await version(), {
          reason: err.reason, message: err.message, ...(err.details ? { details: err.details } : {}), affected: err.affectedCells, resync: err.requiresResync,
        }));
        // A client that must resync is sent the diagram as it is, with the cells it conflicted on.
        if (err.requiresResync) await room.resync(member);
        return;
      }
      if (err instanceof CommandIdReusedError) {
        return member.send(outbound.rejected(request.operation_id, await version(), { reason: 'validation_failed', message: 'this operation_id was already used for another operation', affected: [], resync: false }));
      }
      if (err instanceof DomainError && err.kind === 'forbidden') return member.send(outbound.authorizationDenied(request.operation_id, 'insufficient_permissions'));
      if (err instanceof DomainError && err.kind === 'not_found') {
        return member.send(outbound.rejected(request.operation_id, await version(), { reason: 'diagram_not_found', message: err.message, affected: [], resync: true }));
      }
      throw err;
    }
  }

  private metadata(connection: Connection, operationId: string): EventMetadata {
    const { principal } = connection;
    return {
      actor: { user_id: principal.user_id, email: principal.email, provider: principal.provider },
      trace_id: null, correlation_id: connection.session_id, causation_id: operationId, request_id: null,
    };
  }
}
