import { sql, type Kysely } from 'kysely';

/**
 * Every list order of a parent's children read in index order, so a page of 20 under a parent with
 * 10,000 children reads about 20 index entries and rows instead of sorting them all.
 *
 * Lists break ties by `id` in the direction of the last sort term (src/queries/child-resources.ts),
 * so one index on a key that is never null serves both directions (scanned backwards for one of
 * them). Nullable keys sort unset values last in both directions, which no single btree order gives:
 * they get one index per direction. All are partial on live children, the lists' common case
 * (`include_deleted` is for owners and sorts what it finds); with the parent they also answer a
 * list's `total` by an index-only count for the filters on their key.
 */
const TABLES = ['threats', 'diagrams', 'documents', 'repositories', 'notes', 'assets'] as const;

/** Threat sort keys that may be null (unset last either way), as the list's ORDER BY spells them. */
const NULLABLE = { score: 'score', severity: 'severity_rank', priority: 'priority', status: 'status' } as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await sql`drop index ${sql.id(`${table}_by_parent`)}`.execute(db);
    // Newest first scans it backwards; the full ThreatModel body (oldest first) forwards. For threats
    // it also carries what the structured filters read, so the total of any of them is an index-only count.
    const include = table === 'threats' ? sql`include (severity, priority, status, mitigated, score, modified_at, diagram_id, cell_id)` : sql``;
    await sql`create index ${sql.id(`${table}_by_parent`)} on ${sql.table(table)} (threat_model_id, created_at, id) ${include} where deleted_at is null`.execute(db);
  }
  await sql`drop index threats_by_score`.execute(db);
  await sql`drop index threats_by_severity`.execute(db);
  await sql`create index threats_by_modified on threats (threat_model_id, modified_at, id) where deleted_at is null`.execute(db);
  await sql`create index threats_by_name on threats (threat_model_id, lower(name), id) where deleted_at is null`.execute(db);
  for (const [name, column] of Object.entries(NULLABLE)) {
    await sql`create index ${sql.id(`threats_by_${name}_asc`)} on threats (threat_model_id, ${sql.ref(column)} asc nulls last, id asc) where deleted_at is null`.execute(db);
    await sql`create index ${sql.id(`threats_by_${name}_desc`)} on threats (threat_model_id, ${sql.ref(column)} desc nulls last, id desc) where deleted_at is null`.execute(db);
  }
  // The diagram and cell filters compare lower-cased, as the list does (the old index was on the raw text, which they could not use).
  await sql`drop index threats_by_diagram`.execute(db);
  await sql`create index threats_by_diagram on threats (threat_model_id, lower(diagram_id), lower(cell_id)) where deleted_at is null`.execute(db);
  // One severity (or a few) by score: TMI's triage view.
  await sql`create index threats_by_severity_score on threats (threat_model_id, severity, score desc nulls last, id desc) where deleted_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index threats_by_severity_score`.execute(db);
  for (const name of Object.keys(NULLABLE)) {
    await sql`drop index ${sql.id(`threats_by_${name}_asc`)}`.execute(db);
    await sql`drop index ${sql.id(`threats_by_${name}_desc`)}`.execute(db);
  }
  await sql`drop index threats_by_diagram`.execute(db);
  await sql`create index threats_by_diagram on threats (threat_model_id, diagram_id, cell_id) where deleted_at is null`.execute(db);
  await sql`drop index threats_by_name`.execute(db);
  await sql`drop index threats_by_modified`.execute(db);
  await sql`create index threats_by_score on threats (threat_model_id, score desc nulls last, id) where deleted_at is null`.execute(db);
  await sql`create index threats_by_severity on threats (threat_model_id, severity, score desc nulls last, id) where deleted_at is null`.execute(db);
  for (const table of TABLES) {
    await sql`drop index ${sql.id(`${table}_by_parent`)}`.execute(db);
    await sql`create index ${sql.id(`${table}_by_parent`)} on ${sql.table(table)} (threat_model_id, created_at desc, id)`.execute(db);
  }
}
