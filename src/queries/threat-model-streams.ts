/**
 * Which rows of `events` (named `alias`) are the first events of a threat model's streams — its
 * own and its sub-resources' — as SQL: each such stream's first event names the threat model in
 * `data.threat_model_id`. Written exactly as the partial index of migration 0027 is, so
 * PostgreSQL reads it from that index. `param` is the placeholder of the threat model's id.
 */
export const firstEventsOfThreatModelSql = (param: string, alias: string): string =>
  `(${alias}.data->>'threat_model_id') = ${param} and ${alias}.version = 1 and ${alias}.data ? 'threat_model_id'`;
