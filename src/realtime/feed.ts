import { EventEmitter } from 'node:events';

/** An event of a diagram's stream, as the hub delivers it: its version is the sequence number. */
export interface FeedEvent { version: number; type: string; data: unknown }

/**
 * Where committed events of a diagram reach the hubs that have sockets on it. Published after
 * the commit, never before: a subscriber may see an event late or (across instances) not at
 * all, which the rooms repair from PostgreSQL, but never one that did not happen.
 */
export interface DiagramFeed {
  publish(diagramId: string, event: FeedEvent): void;
  subscribe(diagramId: string, listener: (event: FeedEvent) => void): () => void;
  close(): Promise<void>;
}

/** One process, no Redis: the embedded default, and every instance's own deliveries. */
export function inProcessFeed(): DiagramFeed {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    publish: (diagramId, event) => { emitter.emit(diagramId, event); },
    subscribe(diagramId, listener) {
      emitter.on(diagramId, listener);
      return () => { emitter.off(diagramId, listener); };
    },
    close: async () => { emitter.removeAllListeners(); },
  };
}
