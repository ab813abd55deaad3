import type { Pool } from 'pg';
import { decide, type ThreatModelCommand } from '../commands/threat-models/decide.js';
import { THREAT_MODEL_STREAM_TYPE, type ThreatModelEvent } from '../commands/threat-models/events.js';
import { evolve, initialState, type ThreatModelState } from '../commands/threat-models/state.js';
import { METADATA_PROJECTION } from '../projections/metadata.js';
import { THREAT_MODEL_ACCESS_PROJECTION } from '../projections/threat-model-access.js';
import { THREAT_MODELS_PROJECTION } from '../projections/threat-models.js';
import type { Decider } from './execute-command.js';

export const threatModelDecider: Decider<ThreatModelState, ThreatModelCommand, ThreatModelEvent> = {
  streamType: THREAT_MODEL_STREAM_TYPE,
  initialState,
  evolve,
  decide,
};

/** The projections a threat model's reads are served from; commands wait for all of them. */
export const THREAT_MODEL_PROJECTIONS = [THREAT_MODELS_PROJECTION, THREAT_MODEL_ACCESS_PROJECTION, METADATA_PROJECTION] as const;

/** TMI's alias for a new threat model, drawn before the command is decided (gaps are harmless). */
export async function nextAlias(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>("select nextval('threat_model_alias_seq') as n");
  return Number(rows[0]!.n);
}
