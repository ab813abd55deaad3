/**
 * The one rule for the global order. Everything else (store, projectors, read-your-writes)
 * treats positions as opaque increasing numbers and asks this module for the SQL.
 *
 * A position is `(xid8 + offset) << 16 | n`: the appending transaction's id in the high bits, the
 * event's index inside that transaction in the low 16. The offset (one row, migration 0032) is 0
 * until an import of another cluster's events raises it so that the order continues after them
 * (RAISE_POSITION_OFFSET_SQL); it never shrinks (migration 0036's triggers refuse that), so it
 * changes no order; appends read it in their own READ COMMITTED statement (docs/architecture.md,
 * "Export and import", says what that assumes). Transaction ids are assigned in
 * increasing order, and a reader only reads below the oldest transaction still running
 * that might append (SAFE_HORIZON_SQL), so no transaction can later commit an event below what
 * a reader has already passed. That is what makes the order gap-safe without a global lock: writers never
 * wait for each other, and a reader waits only for transactions older than what it reads.
 * Numbers are sparse (they jump between transactions); only their order means anything.
 * See docs/architecture.md for the measurements behind the choice.
 */
export const POSITION_SHIFT = 16;
export const MAX_EVENTS_PER_TRANSACTION = 1 << POSITION_SHIFT;

/** SQL for the offset added to transaction ids (read in the statement that uses it). */
const XID_OFFSET_SQL = '(select xid_offset from event_position_offset)';

/** SQL for the first position the current transaction may use. */
export const TRANSACTION_BASE_POSITION_SQL = `((pg_current_xact_id()::text::bigint + ${XID_OFFSET_SQL}) << ${POSITION_SHIFT})`;

/**
 * The application name a transaction takes (`SET LOCAL`, before its first write) to declare
 * that it will never append an event: projector batches. The events table refuses inserts
 * from a session that carries it (migration 0017), so while it carries the name it cannot append.
 *
 * The check binds only while the name is set, so a declarer must keep three rules, which the
 * projector runner (the only one) does by declaring in its first statement: declare before the
 * transaction has an xid (one that appended first, then declared, would be skipped with its
 * events uncommitted below the horizon); keep the name until commit (no RESET, no
 * `set_config(…, false)`); and never declare inside a savepoint, whose rollback would revert it.
 */
export const NON_APPENDING_APPLICATION_NAME = 'tmi-es-projector';
/** The declaration as an expression (`SET LOCAL`'s function form), to ride along in another statement. */
export const DECLARE_NON_APPENDING_EXPRESSION = `set_config('application_name', '${NON_APPENDING_APPLICATION_NAME}', true)`;
export const DECLARE_NON_APPENDING_SQL = `select ${DECLARE_NON_APPENDING_EXPRESSION}`;

/**
 * SQL for the safe horizon: every event below it is committed or rolled back for good.
 * Read in the same statement as the events so both use one snapshot.
 *
 * It is the oldest transaction of the snapshot still running that might append events — not
 * simply the oldest running (`pg_snapshot_xmin`): a transaction of another database of the
 * cluster, or one that declared itself non-appending, can never commit an event, so waiting for
 * it would only delay readers (a projector's batch would hold back every other projector).
 * A running transaction counts as harmless only when `pg_stat_get_activity` positively shows
 * it so (its xid on a backend of another database, or under the non-appending name); one that
 * ended meanwhile still counts, which only lowers the horizon. Sessions of every role are shown
 * these columns, so another role's may be skipped too — safe because the events table's check
 * binds every role. A prepared transaction has no backend, so it always counts: a forgotten
 * `PREPARE TRANSACTION`, even in another database, holds every reader back until it is resolved.
 * Transactions newer than the snapshot are beyond `pg_snapshot_xmax`.
 *
 * Read it once per transaction, with no earlier read of `pg_stat_activity` in it: PostgreSQL
 * caches the backends' status for the rest of the transaction, and a later snapshot matched
 * against that stale copy could skip a transaction that has since begun to append.
 */
export const SAFE_HORIZON_SQL = `((with s as materialized (select pg_current_snapshot() as snap)
  select coalesce(
    (select min(x) from s, pg_snapshot_xip(s.snap) as x
      where not exists (
        select 1 from pg_stat_get_activity(null) a
        where a.backend_xid is not null
          and a.backend_xid::text::bigint = x::text::bigint % 4294967296
          and (a.datid <> (select oid from pg_database where datname = current_database())
               or a.application_name = '${NON_APPENDING_APPLICATION_NAME}'))),
    (select pg_snapshot_xmax(s.snap) from s))::text::bigint + ${XID_OFFSET_SQL}) << ${POSITION_SHIFT})`;

/** Largest position whose events are all settled, for a reader that saw everything below the horizon. */
export const settledThrough = (horizon: number): number => horizon - 1;

/**
 * SQL (parameter `$1`, a position) that raises the offset so that every transaction that may
 * still append numbers its events above that position, and the horizon passes it: after an
 * import whose head came from another cluster's transaction ids. Every transaction that can
 * append from now on has an id at or above the current horizon's (those below it have ended),
 * so lifting the horizon's base above the head's lifts all of them. Run it in the importing
 * transaction, which holds the events table locked against appends (see the horizon's rule of
 * one read of it per transaction). Returns the new offset.
 */
export const RAISE_POSITION_OFFSET_SQL = `update event_position_offset
  set xid_offset = xid_offset + greatest(0, ($1::bigint >> ${POSITION_SHIFT}) + 1 - (${SAFE_HORIZON_SQL} >> ${POSITION_SHIFT}))
  returning xid_offset`;
