import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The hub's numbers in `/metrics`: what it holds open, what it accepts and refuses, how fast it fans out. */
export interface HubMetrics {
  operations: Counter<'outcome'>;
  fanout: Histogram;
  batch: Histogram;
  closes: Counter<'reason'>;
  /** Messages through the sockets, by direction and message_type (counted per socket and message). */
  message(direction: 'in' | 'out', type: string): void;
}

export function hubMetrics(registry: Registry, counts: { connections(): number; rooms(): number }): HubMetrics {
  // Counted in plain numbers and added to the counter when it is scraped: a labelled inc hashes its
  // labels each time, and this runs for every socket a room's message goes to (tens of thousands a second).
  const tallies = { in: new Map<string, number>(), out: new Map<string, number>() };
  new Counter({
    name: 'tmi_realtime_messages_total',
    help: 'Collaboration messages by direction (in: from clients, out: to them) and message_type (unknown for an inbound type the protocol does not have)',
    labelNames: ['direction', 'type'] as const, registers: [registry],
    collect() {
      for (const direction of ['in', 'out'] as const) {
        for (const [type, n] of tallies[direction]) if (n > 0) { this.inc({ direction, type }, n); tallies[direction].set(type, 0); }
      }
    },
  });
  new Gauge({ name: 'tmi_realtime_connections', help: 'Collaboration sockets open on this instance', registers: [registry], collect() { this.set(counts.connections()); } });
  new Gauge({ name: 'tmi_realtime_active_diagrams', help: 'Diagrams with collaboration sockets on this instance', registers: [registry], collect() { this.set(counts.rooms()); } });
  return {
    operations: new Counter({
      name: 'tmi_realtime_operations_total',
      help: 'Diagram operations, undos and redos by outcome: accepted, replayed (a resend), or the rejection reason',
      labelNames: ['outcome'], registers: [registry],
    }),
    fanout: new Histogram({
      name: 'tmi_realtime_fanout_seconds',
      help: 'From an operation\'s commit on this instance to its event handed to every socket here',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
    }),
    batch: new Histogram({
      name: 'tmi_realtime_operation_batch_size',
      help: 'Operations a diagram\'s writer committed in one append (0: every one of the batch was refused or a resend)',
      buckets: [0, 1, 2, 4, 8, 16, 32, 64], registers: [registry],
    }),
    message(direction, type) {
      const tally = tallies[direction];
      tally.set(type, (tally.get(type) ?? 0) + 1);
    },
    closes: new Counter({
      name: 'tmi_realtime_closes_total',
      help: 'Sockets the hub closed, by reason (session_ended, removed, token, access, slow_consumer, not_answering, going_away)',
      labelNames: ['reason'], registers: [registry],
    }),
  };
}
