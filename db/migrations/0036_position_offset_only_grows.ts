import { sql, type Kysely } from 'kysely';

/**
 * The position offset (migration 0032, src/events/position.ts) may only grow: a smaller offset
 * would number the next appends below events already stored and read, breaking the gap-safe
 * order every reader relies on. Only an import raises it; nothing lowers it, removes its row or
 * empties the table, and these triggers refuse it to anyone who tries with SQL (a restore by hand,
 * a mistaken fix-up) rather than leave the rule to the code alone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function event_position_offset_only_grows() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE' then
        if new.xid_offset < old.xid_offset then
          raise exception 'the event position offset only grows (% to %): a smaller one would number new events below stored ones', old.xid_offset, new.xid_offset
            using errcode = 'check_violation';
        end if;
        return new;
      end if;
      raise exception 'the event position offset row is never removed (%)', tg_op using errcode = 'check_violation';
    end $$`.execute(db);
  await sql`create trigger event_position_offset_only_grows before update or delete on event_position_offset
            for each row execute function event_position_offset_only_grows()`.execute(db);
  await sql`create trigger event_position_offset_never_truncated before truncate on event_position_offset
            for each statement execute function event_position_offset_only_grows()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger event_position_offset_never_truncated on event_position_offset`.execute(db);
  await sql`drop trigger event_position_offset_only_grows on event_position_offset`.execute(db);
  await sql`drop function event_position_offset_only_grows()`.execute(db);
}
