import type { Pool, PoolClient } from 'pg';
import { withTransaction } from '../infra/database.js';
import { chainedColumnsSql, expectedHash, type ChainedRow } from './chain.js';

/** What is wrong at a broken link or checkpoint. */
export type ChainProblem =
  | 'hash_missing'
  | 'hash_mismatch'
  | 'predecessor_missing'
  | 'checkpoint_gap'
  | 'checkpoint_mismatch';

export interface BrokenLink {
  /** The event's position; for a checkpoint, the first position of its range. */
  position: number;
  stream_id: string | null;
  version: number | null;
  problem: ChainProblem;
  detail: string;
  checkpoint_id: number | null;
}

export interface ChainVerification {
  ok: boolean;
  events_checked: number;
  checkpoints_checked: number;
  /** Events up to here are also covered by checkpoints (0 when there is none yet). */
  checkpointed_through: number;
  /**
   * The last checkpoint's digest (hex; null when there is none): it seals every event through
   * `checkpointed_through`. The hashes are unkeyed, so a forger who rewrites a whole export can
   * make it consistent; comparing this value with the source's, out of band, cannot be forged.
   */
  checkpoint_digest: string | null;
  broken_links: number;
  broken_checkpoints: number;
  /** The broken link or checkpoint lowest in the global order; null when the store verifies. */
  first_broken: BrokenLink | null;
}

const FETCH_ROWS = 1000;

type LinkRow = ChainedRow & { hash: Buffer | null; prev_hash: Buffer | null; prev_position: string | null };

/**
 * Every event next to its predecessor in its stream, in global order: one join, streamed through
 * a cursor so the store is never in memory at once. Node recomputes c from the stored row (the
 * canonical JSON PostgreSQL cannot produce) and the link hash from c and the predecessor's hash.
 *
 * The predecessor is the previous *version*, as the append defines it (it links to the stream's
 * head by version): a stream's version order and position order may legitimately differ (an
 * older transaction that appends after a newer one committed numbers its later version below),
 * so a predecessor at a later position is no break. A reordering by hand still breaks a link:
 * the hash covers the event's own position and version.
 */
const LINKS_SQL = `
declare chain_links no scroll cursor for
select ${chainedColumnsSql('e')}, e.hash, p.hash as prev_hash, p.position::text as prev_position
from events e left join events p on p.stream_id = e.stream_id and p.version = e.version - 1
order by e.position`;

/** Each checkpoint's digest recomputed from the events now in its range and the digest before it. */
const CHECKPOINTS_SQL = `
with cp as (
  select c.*, coalesce(lag(c.through_position) over w, 0) as prev_through, coalesce(lag(c.digest) over w, ''::bytea) as prev_digest
  from event_chain_checkpoints c window w as (order by c.id)
)
select cp.id, cp.after_position::text, cp.through_position::text, cp.event_count, cp.prev_through::text, r.n, encode(cp.digest, 'hex') as digest,
       cp.digest = sha256(cp.prev_digest || coalesce(r.hashes, ''::bytea)) as digest_ok
from cp left join lateral (
  select count(*)::int as n, string_agg(e.hash, ''::bytea order by e.position) as hashes
  from events e where e.position > cp.after_position and e.position <= cp.through_position
) r on true
order by cp.id`;

function checkLink(r: LinkRow): Omit<BrokenLink, 'position' | 'stream_id' | 'version' | 'checkpoint_id'> | null {
  if (r.hash === null) return { problem: 'hash_missing', detail: 'the event has no hash' };
  if (r.version > 1 && r.prev_position === null) {
    return { problem: 'predecessor_missing', detail: `version ${r.version - 1} of the stream is missing` };
  }
  if (!expectedHash(r, r.prev_hash).equals(r.hash)) {
    return { problem: 'hash_mismatch', detail: 'the stored hash does not match the event\'s content, place and predecessor' };
  }
  return null;
}

async function verifyLinks(client: PoolClient): Promise<{ checked: number; broken: number; first: BrokenLink | null }> {
  await client.query(LINKS_SQL);
  let checked = 0;
  let broken = 0;
  let first: BrokenLink | null = null;
  for (;;) {
    const { rows } = await client.query<LinkRow>(`fetch ${FETCH_ROWS} from chain_links`);
    for (const r of rows) {
      checked++;
      const problem = checkLink(r);
      if (!problem) continue;
      broken++;
      first ??= { position: Number(r.position), stream_id: r.stream_id, version: r.version, checkpoint_id: null, ...problem };
    }
    if (rows.length < FETCH_ROWS) break;
  }
  await client.query('close chain_links');
  return { checked, broken, first };
}

interface CheckpointRow {
  id: string;
  after_position: string;
  through_position: string;
  event_count: number;
  prev_through: string;
  n: number;
  digest: string;
  digest_ok: boolean;
}

async function verifyCheckpoints(client: PoolClient): Promise<{ checked: number; broken: number; through: number; digest: string | null; first: BrokenLink | null }> {
  const { rows } = await client.query<CheckpointRow>(CHECKPOINTS_SQL);
  let broken = 0;
  let first: BrokenLink | null = null;
  for (const r of rows) {
    const at = (problem: ChainProblem, detail: string): BrokenLink =>
      ({ position: Number(r.after_position) + 1, stream_id: null, version: null, problem, detail, checkpoint_id: Number(r.id) });
    let bad: BrokenLink | null = null;
    if (r.after_position !== r.prev_through) {
      bad = at('checkpoint_gap', `checkpoint ${r.id} starts after position ${r.after_position}, the one before it ended at ${r.prev_through}`);
    } else if (r.n !== r.event_count) {
      // The digest cannot see its own row's count: an edited count would otherwise verify.
      bad = at('checkpoint_mismatch', `checkpoint ${r.id} (positions ${r.after_position}..${r.through_position}] records ${r.event_count} events; `
        + `its range now holds ${r.n}: an event was removed or added, or the checkpoint edited`);
    } else if (!r.digest_ok) {
      bad = at('checkpoint_mismatch', `checkpoint ${r.id} (positions ${r.after_position}..${r.through_position}] sealed ${r.event_count} events; `
        + `its range now holds ${r.n} whose hashes do not give its digest: an event was removed, added or moved`);
    }
    if (!bad) continue;
    broken++;
    first ??= bad;
  }
  const last = rows.at(-1);
  return { checked: rows.length, broken, through: Number(last?.through_position ?? 0), digest: last?.digest ?? null, first };
}

/**
 * Verifies the whole chain as `client`'s transaction sees it: every event's link to its stream
 * predecessor (edits, removals in the middle of a stream, insertions, reorderings) and every
 * checkpoint (removals a per-stream chain cannot see, such as a stream's last event). The import
 * runs it on what it inserted, before it commits.
 */
export async function verifyChainIn(client: PoolClient): Promise<ChainVerification> {
  const links = await verifyLinks(client);
  const checkpoints = await verifyCheckpoints(client);
  const candidates = [links.first, checkpoints.first].filter((b): b is BrokenLink => b !== null);
  // The lowest position first; a link names the event itself, so it wins a tie with a checkpoint's range.
  candidates.sort((a, b) => a.position - b.position || (a.checkpoint_id === null ? -1 : 1));
  return {
    ok: candidates.length === 0,
    events_checked: links.checked,
    checkpoints_checked: checkpoints.checked,
    checkpointed_through: checkpoints.through,
    checkpoint_digest: checkpoints.digest,
    broken_links: links.broken,
    broken_checkpoints: checkpoints.broken,
    first_broken: candidates[0] ?? null,
  };
}

/** verifyChainIn in one read-only repeatable-read snapshot of its own. */
export async function verifyChain(pool: Pool): Promise<ChainVerification> {
  return withTransaction(pool, verifyChainIn, 'begin isolation level repeatable read read only');
}
