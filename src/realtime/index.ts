import { authModule } from '../auth/module.js';
import type { Services } from '../services.js';
import { redisFeed } from '../infra/redis-feed.js';
import { inProcessFeed, type DiagramFeed } from './feed.js';
import { CollaborationHub } from './hub.js';
import { WsTickets } from './tickets.js';

/** The realtime parts one service instance shares between its routes: the hub, its feed, the WebSocket tickets. */
export interface Realtime { hub: CollaborationHub; feed: DiagramFeed; tickets: WsTickets }

const instances = new WeakMap<Services, Realtime>();

export function realtimeOf(services: Services): Realtime {
  let realtime = instances.get(services);
  if (realtime) return realtime;
  // With Redis, every instance hears every diagram's events at once; without, only its own (and PostgreSQL's heads).
  const feed = services.redis && services.config.redis.url
    ? redisFeed(services.redis, services.config.redis.url, services.config.redis.prefix, services.log)
    : inProcessFeed();
  const r = services.config.realtime;
  realtime = {
    feed,
    hub: new CollaborationHub(services, feed, {
      replayMaxEvents: r.replay_max_events, headCheckMs: r.head_check_ms, presencePerSecond: r.presence_per_second,
      accessCheckMs: r.access_check_ms, pingIntervalMs: r.ping_interval_ms, maxBufferedBytes: r.max_buffered_bytes,
      operationsPerSecond: r.operations_per_second, hostGraceMs: r.host_grace_ms, maxConnectionsPerUser: r.max_connections_per_user, maxParticipants: r.max_participants,
    }),
    tickets: new WsTickets(authModule(services).ephemeral),
  };
  instances.set(services, realtime);
  return realtime;
}
