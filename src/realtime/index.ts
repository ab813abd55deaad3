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
  realtime = {
    feed,
    hub: new CollaborationHub(services, feed, services.config.realtime),
    tickets: new WsTickets(authModule(services).ephemeral),
  };
  instances.set(services, realtime);
  return realtime;
}
