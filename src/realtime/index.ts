import { authModule } from '../auth/module.js';
import type { Services } from '../services.js';
import { inProcessFeed, type DiagramFeed } from './feed.js';
import { CollaborationHub } from './hub.js';
import { WsTickets } from './tickets.js';

/** The realtime parts one service instance shares between its routes: the hub, its feed, the WebSocket tickets. */
export interface Realtime { hub: CollaborationHub; feed: DiagramFeed; tickets: WsTickets }

const instances = new WeakMap<Services, Realtime>();

export function realtimeOf(services: Services): Realtime {
  let realtime = instances.get(services);
  if (realtime) return realtime;
  const feed = inProcessFeed();
  const { replay_max_events, head_check_ms, presence_per_second } = services.config.realtime;
  realtime = {
    feed,
    hub: new CollaborationHub(services, feed, { replayMaxEvents: replay_max_events, headCheckMs: head_check_ms, presencePerSecond: presence_per_second }),
    tickets: new WsTickets(authModule(services).ephemeral),
  };
  instances.set(services, realtime);
  return realtime;
}
