import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { inProcessFeed, type DiagramFeed, type FeedMessage } from '../realtime/feed.js';

/**
 * The diagram feed across instances: each message is delivered in-process at once and published
 * on the diagram's Redis channel for the other instances. Redis is an accelerator, not the truth:
 * a publish that fails (Redis down, hung) is dropped, and the rooms, which deliver only in
 * sequence order and read gaps and heads from PostgreSQL, deliver the event anyway — later.
 */
export function redisFeed(publisher: Redis, url: string, prefix: string, log: Logger): DiagramFeed {
  const local = inProcessFeed();
  const origin = randomUUID();
  const channelPrefix = `${prefix}:diagram:`;
  // ioredis subscribes again after a reconnect; the offline queue holds subscriptions made while it is down.
  const subscriber = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
  subscriber.on('error', (err) => log.debug({ err }, 'realtime feed: redis subscriber error'));
  const listeners = new Map<string, number>();
  subscriber.on('message', (channel: string, raw: string) => {
    if (!channel.startsWith(channelPrefix)) return;
    try {
      const envelope = JSON.parse(raw) as { origin: string; message: FeedMessage };
      // Our own publishes were delivered here already.
      if (envelope.origin !== origin) local.publish(channel.slice(channelPrefix.length), envelope.message);
    } catch (err) {
      log.warn({ err, channel }, 'realtime feed: an unreadable message was dropped');
    }
  });
  return {
    publish(diagramId, message) {
      local.publish(diagramId, message);
      publisher.publish(channelPrefix + diagramId, JSON.stringify({ origin, message }))
        .catch((err: unknown) => log.debug({ err, diagram_id: diagramId }, 'realtime feed: publish failed; the rooms read PostgreSQL instead'));
    },
    subscribe(diagramId, listener) {
      const count = listeners.get(diagramId) ?? 0;
      listeners.set(diagramId, count + 1);
      if (count === 0) subscriber.subscribe(channelPrefix + diagramId).catch((err: unknown) => log.debug({ err, diagram_id: diagramId }, 'realtime feed: subscribe failed'));
      const unsubscribe = local.subscribe(diagramId, listener);
      return () => {
        unsubscribe();
        const left = (listeners.get(diagramId) ?? 1) - 1;
        if (left > 0) return void listeners.set(diagramId, left);
        listeners.delete(diagramId);
        subscriber.unsubscribe(channelPrefix + diagramId).catch(() => {});
      };
    },
    async close() {
      subscriber.disconnect();
      await local.close();
    },
  };
}
