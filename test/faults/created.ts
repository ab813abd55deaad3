import type { Pool } from 'pg';
import { threatModelStreamId } from '../../src/commands/threat-models/events.js';
import type { Attempt } from './command-load.js';

/** Name → stream id of every threat model the event store says was created. */
export async function createdThreatModels(pool: Pool): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ name: string; stream_id: string }>(
    "select data->>'name' as name, stream_id from events where type = 'ThreatModelCreated'");
  return new Map(rows.map((r) => [r.name, r.stream_id]));
}

/** Accepted attempts whose threat model the event store does not hold (under the id the answer gave). */
export async function lostCommands(pool: Pool, accepted: Attempt[]): Promise<Attempt[]> {
  const created = await createdThreatModels(pool);
  return accepted.filter((a) => created.get(a.name) !== threatModelStreamId(a.body?.id ?? ''));
}
