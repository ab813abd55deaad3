import type { PoolClient } from 'pg';
import { CHILD_AGGREGATES } from '../commands/children.js';
import { childEventTypes } from '../commands/child-resources/definition.js';

/**
 * Sets the command side's counters from the events, after an import into an empty database:
 * TMI's aliases are drawn from counters outside the event store before a command is decided
 * (`nextAlias`, `drawChildAliases`), and the events carry what was drawn. Left alone, the
 * next threat model would get alias 1 again. Counters only move up.
 */
export async function restoreCommandState(client: PoolClient): Promise<void> {
  await client.query(
    `select setval('threat_model_alias_seq', m) from (
       select max((data->>'alias')::bigint) as m from events where type = 'ThreatModelCreated') s
     where m is not null and m > (select case when is_called then last_value else 0 end from threat_model_alias_seq)`);
  const kinds = CHILD_AGGREGATES.map((a) => ({ type: childEventTypes(a.resource.label).created, kind: a.resource.kind }));
  await client.query(
    `insert into child_aliases (threat_model_id, kind, last_alias)
     select (e.data->>'threat_model_id')::uuid, k.kind, max((e.data->>'alias')::int)
     from events e join unnest($1::text[], $2::text[]) as k(type, kind) on e.type = k.type
     group by 1, 2
     on conflict (threat_model_id, kind) do update set last_alias = greatest(child_aliases.last_alias, excluded.last_alias)`,
    [kinds.map((k) => k.type), kinds.map((k) => k.kind)]);
}
