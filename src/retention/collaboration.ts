import { decideAndAppend } from '../application/execute-command.js';
import { childStreamId } from '../commands/child-resources/index.js';
import { COLLABORATION_SESSIONS_PROJECTION } from '../projections/collaboration-sessions.js';
import { collaborationDecider } from '../realtime/sessions/decide.js';
import { collaborationStreamId } from '../realtime/sessions/events.js';
import { inBatches, onItsOwn, type Sweep, type SweepResult } from './sweep.js';

export const COLLABORATION_KIND = 'collaboration_session';

/** Why the sweep ended a session, as CollaborationSessionEnded.reason records it. */
export const EXPIRED_REASONS = { idle: 'expired', gone: 'diagram_deleted' } as const;

// Active sessions (the read table) older than the idle age, after the run's keyset position, with
// whether their diagram or threat model is deleted and when their own or their diagram's stream
// last changed (each the stream's newest event, one index probe). Deleted, not missing: a read
// table being rebuilt lacks rows that still exist.
const CANDIDATES = `
select s.session_id, s.diagram_id, s.started_at,
       coalesce(d.deleted_at is not null or t.deleted_at is not null, false) as gone,
       greatest((select created_at from events where stream_id = $4 || s.diagram_id order by version desc limit 1),
                (select created_at from events where stream_id = $5 || s.diagram_id order by version desc limit 1))
         < now() - make_interval(secs => $1) as idle
from collaboration_sessions s
left join diagrams d on d.id = s.diagram_id
left join threat_models t on t.id = s.threat_model_id
where s.started_at < now() - make_interval(secs => $1) and (s.started_at, s.session_id) > ($2::timestamptz, $3::uuid)
order by s.started_at, s.session_id
limit $6`;

/**
 * Leftovers of collaboration sessions: a session stays active until its host's instance ends it
 * after the host leaves. When that instance died first, or the diagram went away with its threat
 * model, nothing would ever end it. The sweep ends a session whose own stream and diagram's stream
 * have had no event for `retention.collaboration_idle_seconds`, or whose diagram is deleted, with
 * CollaborationSessionEnded (ended_by `system`): how a session ended is part of its history, so the
 * end is an event like any other. Its sockets, if any are left, close on their next access check.
 */
export const collaborationSweep: Sweep = {
  name: 'collaboration_sessions',
  kinds: [COLLABORATION_KIND],
  projections: [COLLABORATION_SESSIONS_PROJECTION],
  async run(context) {
    const { pool, store, config, metadata } = context;
    const result: SweepResult = { removed: {}, batches: [] };
    let from = { started_at: new Date(0), session_id: '00000000-0000-0000-0000-000000000000' };
    let ended = 0;
    result.batches = await inBatches(config.batch_size, async (limit) => {
      const { rows } = await pool.query<{ session_id: string; diagram_id: string; started_at: Date; gone: boolean; idle: boolean }>(CANDIDATES, [
        config.collaboration_idle_seconds, from.started_at, from.session_id, collaborationStreamId(''), childStreamId('diagram', ''), limit]);
      for (const r of rows) {
        if (!r.gone && !r.idle) continue;
        await onItsOwn(context, result, { session_id: r.session_id, diagram_id: r.diagram_id }, async () => {
          const { events } = await decideAndAppend(store, collaborationDecider, {
            type: 'Expire', session_id: r.session_id, reason: r.gone ? EXPIRED_REASONS.gone : EXPIRED_REASONS.idle, now: new Date().toISOString(),
          }, { streamId: collaborationStreamId(r.diagram_id), expectedVersion: null, commandId: null, metadata, retries: 5 });
          if (events.length > 0) ended++;
        });
      }
      const last = rows[rows.length - 1];
      if (last) from = { started_at: last.started_at, session_id: last.session_id };
      return rows.length;
    });
    result.removed[COLLABORATION_KIND] = ended;
    return result;
  },
};
