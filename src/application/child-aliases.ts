import type { Pool } from 'pg';
import type { ChildKind } from '../commands/child-resources/index.js';

/**
 * TMI's alias of a child: an integer unique within its threat model and kind, increasing. A
 * counter row per (threat model, kind), moved by one atomic upsert, hands out `count` aliases at
 * once (a bulk create draws its block in one statement), so concurrent creates never share one.
 * The alias is drawn before the command is decided and is written into its created event; a
 * command that then fails leaves a gap, which TMI's aliases allow. Returns the first alias.
 */
export async function drawChildAliases(pool: Pool, threatModelId: string, kind: ChildKind, count: number): Promise<number> {
  const { rows } = await pool.query<{ last_alias: number }>(
    `insert into child_aliases (threat_model_id, kind, last_alias) values ($1, $2, $3)
     on conflict (threat_model_id, kind) do update set last_alias = child_aliases.last_alias + excluded.last_alias
     returning last_alias`,
    [threatModelId, kind, count]);
  return rows[0]!.last_alias - count + 1;
}
