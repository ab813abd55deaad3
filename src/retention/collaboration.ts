import { decideAndAppend } from '../application/execute-command.js';
import { VersionConflictError } from '../events/errors.js';
import type { EventStore } from '../events/store.js';
import type { EventMetadata } from '../events/types.js';
import { childStreamId } from '../commands/child-resources/index.js';
import { COLLABORATION_SESSIONS_PROJECTION } from '../projections/collaboration-sessions.js';
import { collaborationDecider } from '../realtime/sessions/decide.js';
import { collaborationStreamId } from '../realtime/sessions/events.js';
import { inBatches, onItsOwn, type Sweep, type SweepResult } from './sweep.js';

export const COLLABORATION_KIND = 'collaboration_session';

/** Why the sweep ended a session, as CollaborationSessionEnded.reason records it. */
export const EXPIRED_REASONS = { idle: 'expired', gone: 'diagram_deleted' } as const;

// Active sessions (the read table) older than the idle age, after the run's keyset position, with
// whether their diagram or threat model is deleted, the newest event of their own stream and of
// their diagram's (one index probe each), and whether both, and the last time a hub saw a socket
// connected to it, are older than the idle age. Deleted, not missing: a read table being rebuilt
// lacks rows that still exist.
const CANDIDATES = `
select s.session_id, s.diagram_id, s.started_at,
       coalesce(d.deleted_at is not null or t.deleted_at is not null, false) as gone,
       coalesce(se.version, 0) as session_version, coalesce(de.version, 0) as diagram_version,
       greatest(se.created_at, de.created_at, l.seen_at) < now() - make_interval(secs => $1) as idle
from collaboration_sessions s
left join collaboration_liveness l on l.session_id = s.session_id
left join diagrams d on d.id = s.diagram_id
left join threat_models t on t.id = s.threat_model_id
left join lateral (select version, created_at from events where stream_id = $4 || s.diagram_id order by version desc limit 1) se on true
left join lateral (select version, created_at from events where stream_id = $5 || s.diagram_id order by version desc limit 1) de on true
where s.started_at < now() - make_interval(secs => $1) and (s.started_at, s.session_id) > ($2::timestamptz, $3::uuid)
order by s.started_at, s.session_id
limit $6`;

interface Candidate { session_id: string; diagram_id: string; started_at: Date; gone: boolean; session_version: number; diagram_version: number; idle: boolean }

/**
 * Ends one candidate, on the state it was judged on. Idle: only if neither stream has had an event
 * since the newest ones the idle check saw — the session's stream at that version (the append
 * expects it), the diagram's unchanged since its own (a condition of the append) — so a participant
 * who joins or edits between the check and the end keeps the session; the next run judges it
 * afresh. Gone (its diagram deleted): whatever happened on it since, it ends.
 */
async function expire(store: EventStore, r: Candidate, metadata: EventMetadata): Promise<boolean> {
  const command = { type: 'Expire' as const, session_id: r.session_id, reason: r.gone ? EXPIRED_REASONS.gone : EXPIRED_REASONS.idle, now: new Date().toISOString() };
  const streamId = collaborationStreamId(r.diagram_id);
  try {
    const { events } = r.gone
      ? await decideAndAppend(store, collaborationDecider, command, { streamId, expectedVersion: null, commandId: null, metadata, retries: 5 })
      : await decideAndAppend(store, collaborationDecider, command, {
        streamId, expectedVersion: Number(r.session_version), commandId: null, metadata,
        conditions: [{ stream_id: childStreamId('diagram', r.diagram_id), unchanged_since: Number(r.diagram_version) }],
      });
    return events.length > 0;
  } catch (err) {
    // Someone acted on it after the check: not idle after all.
    if (!r.gone && err instanceof VersionConflictError) return false;
    throw err;
  }
}

/**
 * Leftovers of collaboration sessions: a session stays active until its host's instance ends it
 * after the host leaves. When that instance died first, or the diagram went away with its threat
 * model, nothing would ever end it. The sweep ends a session whose own stream and diagram's stream
 * have had no event for `retention.collaboration_idle_seconds`, and that no hub has seen a socket
 * connected to for as long (collaboration_liveness: watching is use), or whose diagram is deleted, with
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
      const { rows } = await pool.query<Candidate>(CANDIDATES, [
        config.collaboration_idle_seconds, from.started_at, from.session_id, collaborationStreamId(''), childStreamId('diagram', ''), limit]);
      for (const r of rows) {
        if (!r.gone && !r.idle) continue;
        await onItsOwn(context, result, { session_id: r.session_id, diagram_id: r.diagram_id }, async () => {
          if (await expire(store, r, metadata)) ended++;
        });
      }
      const last = rows[rows.length - 1];
      if (last) from = { started_at: last.started_at, session_id: last.session_id };
      return rows.length;
    });
    result.removed[COLLABORATION_KIND] = ended;
    // A liveness older than the idle age keeps nothing in use any more.
    await pool.query('delete from collaboration_liveness where seen_at < now() - make_interval(secs => $1)', [config.collaboration_idle_seconds]);
    return result;
  },
};
