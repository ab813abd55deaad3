import { DIAGRAM_CELLS_PATCHED, type DiagramCellsPatchedData } from '../commands/diagrams/index.js';
import type { FeedEvent } from './feed.js';
import { outbound } from './messages.js';

/** One connected socket as its diagram's room sees it. */
export interface RoomMember {
  /** The last version this socket was sent: its snapshot's, or the last event's. Nothing at or below it is sent again. */
  lastSent: number;
  send(message: object): void;
}

/** The diagram as of a version: what `diagram_state` shows. */
export interface DiagramSnapshot { version: number; cells: readonly object[]; palette: unknown }

/** What a room reads from the event store: the truth it repairs its deliveries from. */
export interface RoomSource {
  /** The diagram stream's events from a version on (inclusive), in order. */
  eventsFrom(fromVersion: number): Promise<FeedEvent[]>;
  head(): Promise<number>;
  snapshot(): Promise<DiagramSnapshot>;
}

/**
 * The sockets on one diagram and the order they hear its events in. Events arrive from the feed
 * in any order (two commits finishing their round trips out of order, another instance's
 * publish late or lost); the room delivers each exactly once per socket in sequence order,
 * filling a gap from the event store, and a periodic head check finds events nobody published.
 * Everything a room does runs one step at a time, so a join, a catch-up and a delivery never
 * interleave.
 */
export class DiagramRoom {
  readonly members = new Set<RoomMember>();
  private delivered: number;
  private readonly pending = new Map<number, FeedEvent>();
  private queue: Promise<unknown> = Promise.resolve();
  /** A delivery up to the store's head, queued and not started yet: later head checks and status requests share it. */
  private headDelivery: Promise<void> | null = null;

  constructor(
    private readonly diagramId: string, private readonly source: RoomSource, head: number, private readonly onError: (err: unknown) => void,
    private readonly onDelivered: (event: FeedEvent) => void = () => {},
  ) {
    this.delivered = head;
  }

  /** Runs a step after every step before it; a failed step is reported and does not stop the next. */
  private step<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch((err: unknown) => this.onError(err));
    return run;
  }

  /** An event from the feed, perhaps out of order or already delivered. */
  receive(event: FeedEvent): void {
    void this.step(() => this.accept([event]));
  }

  /** Delivers what the event store holds beyond what was delivered (events nobody published). */
  checkHead(): Promise<void> {
    return this.deliverHeadSoon();
  }

  /**
   * TMI's sync_status_response: the head, once the room delivered up to it — the store's head
   * may hold an event still on its way here (another instance's, its publish late or lost), and
   * a client must never be told of a sequence number before it received it.
   */
  async status(member: RoomMember): Promise<void> {
    await this.deliverHeadSoon();
    member.send(outbound.syncStatus(member.lastSent));
  }

  /**
   * A delivery up to a head read after this call: one already queued and not started yet reads
   * it late enough, so it is shared. However many sockets ask and however slow the reads, a room
   * holds at most one such step waiting, and its event deliveries are not queued behind a pile of
   * head reads.
   */
  private deliverHeadSoon(): Promise<void> {
    if (this.headDelivery) return this.headDelivery;
    const delivery: Promise<void> = this.step(() => {
      this.headDelivery = null;
      return this.deliverToHead();
    });
    this.headDelivery = delivery;
    return delivery;
  }

  private async deliverToHead(): Promise<void> {
    if ((await this.source.head()) > this.delivered) await this.accept(await this.source.eventsFrom(this.delivered + 1));
  }

  /** A new socket: the diagram as it is now, and every event after it. */
  join(member: RoomMember, welcome: (snapshot: DiagramSnapshot) => void): Promise<void> {
    return this.step(async () => {
      const snapshot = await this.source.snapshot();
      member.lastSent = snapshot.version;
      welcome(snapshot);
      this.members.add(member);
    });
  }

  leave(member: RoomMember): void {
    this.members.delete(member);
  }

  /**
   * A socket that knows the diagram up to `known` (its last sequence number): the events after
   * it, in order, when there are at most `limit` and all are cell operations; otherwise the
   * diagram as it is. Nothing it was sent is sent again.
   */
  catchUp(member: RoomMember, known: number, limit: number): Promise<void> {
    return this.step(async () => {
      const head = await this.source.head();
      if (known > head || head - known > limit) return this.sendState(member);
      const missed = head === known ? [] : await this.source.eventsFrom(known + 1);
      if (missed.some((e) => e.type !== DIAGRAM_CELLS_PATCHED)) return this.sendState(member);
      for (const e of missed) member.send(outbound.operationEvent(e.data as DiagramCellsPatchedData, e.version));
      member.lastSent = Math.max(member.lastSent, missed.at(-1)?.version ?? known);
      member.send(outbound.syncStatus(member.lastSent));
    });
  }

  /**
   * A resend's answer, the event its original made: sent to the socket in its place in the order —
   * now when the socket was sent that far already, otherwise by the delivery that is on its way.
   */
  confirm(member: RoomMember, version: number, data: DiagramCellsPatchedData): Promise<void> {
    return this.step(async () => {
      if (version <= member.lastSent) member.send(outbound.operationEvent(data, version));
    });
  }

  /** The diagram as it is, to one socket (a resync it asked for, or a rejection that left it behind). */
  resync(member: RoomMember): Promise<void> {
    return this.step(() => this.sendState(member));
  }

  private async sendState(member: RoomMember): Promise<void> {
    this.show(member, await this.source.snapshot());
  }

  private show(member: RoomMember, snapshot: DiagramSnapshot): void {
    member.lastSent = Math.max(member.lastSent, snapshot.version);
    member.send(outbound.diagramState(this.diagramId, snapshot.version, snapshot.cells, snapshot.palette));
  }

  private async accept(events: readonly FeedEvent[]): Promise<void> {
    for (const e of events) if (e.version > this.delivered) this.pending.set(e.version, e);
    await this.drain();
    if (this.pending.size === 0) return;
    // A gap: an event before these was committed but has not reached this room. The store has it.
    const filled = await this.source.eventsFrom(this.delivered + 1);
    for (const e of filled) if (e.version > this.delivered && !this.pending.has(e.version)) this.pending.set(e.version, e);
    await this.drain();
    if (this.pending.size > 0) throw new Error(`diagram ${this.diagramId}: events after ${this.delivered} are not in the store yet (${[...this.pending.keys()].join(', ')})`);
  }

  private async drain(): Promise<void> {
    for (let next = this.pending.get(this.delivered + 1); next; next = this.pending.get(this.delivered + 1)) {
      this.pending.delete(next.version);
      this.delivered = next.version;
      if (next.type !== DIAGRAM_CELLS_PATCHED) {
        // Something other than a cell operation moved the diagram (its metadata, a replacement):
        // everyone gets the state, before any later event, and nothing it already shows again.
        const snapshot = await this.source.snapshot();
        for (const m of this.members) if (m.lastSent < next.version) this.show(m, snapshot);
        this.onDelivered(next);
        continue;
      }
      const message = outbound.operationEvent(next.data as DiagramCellsPatchedData, next.version);
      for (const m of this.members) {
        if (next.version <= m.lastSent) continue;
        m.lastSent = next.version;
        m.send(message);
      }
      this.onDelivered(next);
    }
  }
}
