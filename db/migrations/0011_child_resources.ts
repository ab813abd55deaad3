import { sql, type Kysely } from 'kysely';

/**
 * The read tables of the resources under a threat model. All six share one shape, kept by one
 * projector (`src/projections/child-resources.ts`): the stored fields whole in `fields`, plus
 * generated columns for what lists filter and sort on, so the projector never needs to know them.
 */
const TABLES = ['threats', 'diagrams', 'documents', 'repositories', 'notes', 'assets'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await sql`
      create table ${sql.table(table)} (
        id              uuid primary key,
        threat_model_id uuid not null,
        alias           integer not null,
        fields          jsonb not null,
        auto_generated  boolean not null,
        version         integer not null,
        created_at      timestamptz not null,
        modified_at     timestamptz not null,
        deleted_at      timestamptz,
        name            text generated always as (fields->>'name') stored,
        unique (threat_model_id, alias)
      )`.execute(db);
    // Lists page through one threat model's children, newest first (TMI's default order).
    await sql`create index ${sql.id(`${table}_by_parent`)} on ${sql.table(table)} (threat_model_id, created_at desc, id)`.execute(db);
  }
  // Threat lists filter and sort on these (the contract's list parameters); severity sorts by rank, not by spelling.
  await sql`
    alter table threats
      add column severity text generated always as (lower(fields->>'severity')) stored,
      add column severity_rank smallint generated always as (case lower(fields->>'severity')
        when 'critical' then 5 when 'high' then 4 when 'medium' then 3 when 'low' then 2 when 'informational' then 1 when 'unknown' then 0 end) stored,
      add column priority text generated always as (lower(fields->>'priority')) stored,
      add column status text generated always as (lower(fields->>'status')) stored,
      add column mitigated boolean generated always as ((fields->>'mitigated')::boolean) stored,
      add column score numeric(3, 1) generated always as ((fields->>'score')::numeric) stored,
      add column diagram_id text generated always as (fields->>'diagram_id') stored,
      add column cell_id text generated always as (fields->>'cell_id') stored`.execute(db);
  await sql`create index threats_by_score on threats (threat_model_id, score desc nulls last, id) where deleted_at is null`.execute(db);
  await sql`create index threats_by_severity on threats (threat_model_id, severity, score desc nulls last, id) where deleted_at is null`.execute(db);
  await sql`create index threats_by_diagram on threats (threat_model_id, diagram_id, cell_id) where deleted_at is null`.execute(db);
  // TMI's alias per parent and kind: drawn before the command is decided, so concurrent creates never share one (gaps are harmless).
  await sql`
    create table child_aliases (
      threat_model_id uuid not null,
      kind            text not null,
      last_alias      integer not null,
      primary key (threat_model_id, kind)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table child_aliases`.execute(db);
  for (const table of TABLES) await sql`drop table ${sql.table(table)}`.execute(db);
}
