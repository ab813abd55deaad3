import { EventEmitter } from 'node:events';
import type { User } from '../commands/threat-models/values.js';

/** An event of a diagram's stream, as the hub delivers it: its version is the sequence number. */
export interface FeedEvent {
  version: number;
  type: string;
  data: unknown;
  /** When the instance that committed it published it (ms since the epoch): the start of its fan-out. */
  published_at?: number;
}

/**
 * What goes through a diagram's feed: a committed event, or a change of its session every
 * instance with sockets on it must act on (the session ended, a participant was removed).
 */
export type FeedMessage =
  | { kind: 'event'; event: FeedEvent }
  | { kind: 'ended'; reason: string }
  | { kind: 'removed'; user_id: string }
  // Presence, which every instance with sockets on the diagram shows alike:
  | { kind: 'presenter'; presenter: User }
  | { kind: 'presenter_requested'; requesting: User }
  | { kind: 'presenter_denied'; denied: Pick<User, 'provider' | 'provider_id'> }
  | { kind: 'relay'; from: string; message: object }
  // The host's last socket on an instance closed: is the host connected anywhere else?
  | { kind: 'host_query'; session_id: string }
  | { kind: 'host_present'; session_id: string };

/**
 * Where committed events of a diagram reach the hubs that have sockets on it. Published after
 * the commit, never before: a subscriber may see an event late or (across instances) not at
 * all, which the rooms repair from PostgreSQL, but never one that did not happen.
 */
export interface DiagramFeed {
  publish(diagramId: string, message: FeedMessage): void;
  subscribe(diagramId: string, listener: (message: FeedMessage) => void): () => void;
  close(): Promise<void>;
}

/** One process, no Redis: the embedded default, and every instance's own deliveries. */
export function inProcessFeed(): DiagramFeed {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    publish: (diagramId, message) => { emitter.emit(diagramId, message); },
    subscribe(diagramId, listener) {
      emitter.on(diagramId, listener);
      return () => { emitter.off(diagramId, listener); };
    },
    close: async () => { emitter.removeAllListeners(); },
  };
}
