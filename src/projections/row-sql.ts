import { ident } from './shadow-schema.js';

/** A value as a statement parameter: objects and arrays as JSON text (the projections' jsonb columns), dates and scalars as they are. */
const parameter = (v: unknown): unknown => (v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v);

/**
 * A row, or the columns a change sets, as SQL for the per-event apply: the quoted column names,
 * their placeholders from `$first` on, `name = $n` assignments, and the values. The row objects
 * are the ones the bulk folds keep, so both paths write the same columns with the same values.
 */
export function rowSql(row: Record<string, unknown>, first = 1): { columns: string; placeholders: string; assignments: string; values: unknown[] } {
  const names = Object.keys(row);
  const placeholders = names.map((_, i) => `$${i + first}`);
  return {
    columns: names.map(ident).join(', '),
    placeholders: placeholders.join(', '),
    assignments: names.map((n, i) => `${ident(n)} = ${placeholders[i]}`).join(', '),
    values: names.map((n) => parameter(row[n])),
  };
}
