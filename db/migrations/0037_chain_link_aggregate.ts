import { sql, type Kysely } from 'kysely';
import { linkHashSql } from '../../src/events/chain.js';

/**
 * The link hashes of a batch's events as a running aggregate (src/events/chain.ts):
 * `tmi_chain_link(head, position, version, created_at, c) over (order by version)` is each event's
 * hash, chained from the stream's head (empty for a new stream) through the events before it in the
 * window. The appends' recursive CTE took seconds on a large batch (its plan joined each step
 * against the whole batch); a window runs the chain once over the sorted rows, whatever the
 * planner's estimates, and takes the position, version and timestamp the insert stores. The step
 * is linkHashSql's, so hashes are the ones the single-event append and verify compute.
 *
 * The step is not strict: for a strict one with no initial state, PostgreSQL would take the first
 * row's head as the state and skip that row's step. Stable, not immutable: the link reads
 * `extract(epoch from timestamptz)`, which PostgreSQL marks stable.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function tmi_chain_link_step(previous bytea, head bytea, pos bigint, ver int, created_at timestamptz, c bytea)
    returns bytea language plpgsql stable parallel safe as $$
    begin
      return ${sql.raw(linkHashSql('coalesce(previous, head)', 'pos', 'ver', 'created_at', 'c'))};
    end $$`.execute(db);
  await sql`
    create aggregate tmi_chain_link(bytea, bigint, int, timestamptz, bytea) (
      sfunc = tmi_chain_link_step, stype = bytea, parallel = safe
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop aggregate tmi_chain_link(bytea, bigint, int, timestamptz, bytea)`.execute(db);
  await sql`drop function tmi_chain_link_step(bytea, bytea, bigint, int, timestamptz, bytea)`.execute(db);
}
