/**
 * The one rule for the global order. Everything else (store, projectors, read-your-writes)
 * treats positions as opaque increasing numbers and asks this module for the SQL.
 *
 * A position is `xid8 << 16 | n`: the appending transaction's id in the high bits, the
 * event's index inside that transaction in the low 16. Transaction ids are assigned in
 * increasing order, and a reader only reads below the oldest transaction still running
 * (`pg_snapshot_xmin`), so no transaction can later commit an event below what a reader has
 * already passed. That is what makes the order gap-safe without a global lock: writers never
 * wait for each other, and a reader waits only for transactions older than what it reads.
 * Numbers are sparse (they jump between transactions); only their order means anything.
 * See docs/architecture.md for the measurements behind the choice.
 */
export const POSITION_SHIFT = 16;
export const MAX_EVENTS_PER_TRANSACTION = 1 << POSITION_SHIFT;

/** SQL for the first position the current transaction may use. */
export const TRANSACTION_BASE_POSITION_SQL = `(pg_current_xact_id()::text::bigint << ${POSITION_SHIFT})`;

/**
 * SQL for the safe horizon: every event below it is committed or rolled back for good.
 * Read in the same statement as the events so both use one snapshot.
 */
export const SAFE_HORIZON_SQL = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${POSITION_SHIFT})`;

/** Largest position whose events are all settled, for a reader that saw everything below the horizon. */
export const settledThrough = (horizon: number): number => horizon - 1;
