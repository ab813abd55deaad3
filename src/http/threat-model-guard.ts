import type { FastifyRequest } from 'fastify';
import { requireThreatModelRole } from '../commands/threat-models/authorization.js';
import type { Role } from '../commands/threat-models/values.js';
import { THREAT_MODEL_PROJECTIONS } from '../application/threat-models.js';
import { awaitPosition } from '../application/execute-command.js';
import { findThreatModel, type ThreatModelView } from '../queries/threat-models.js';
import type { Services } from '../services.js';
import { minPosition } from './commands.js';
import { principalOf } from './plugins/authentication.js';

/**
 * The read-side gate every threat model query (and every child resource's query) goes
 * through. It decides with the deciders' own rule, `requireThreatModelRole`: unknown or
 * deleted answers 404, existing but out of the caller's reach (no role, or too low a role)
 * 403. Waits first for a minimum position the caller asked for.
 */
export async function readableThreatModel(services: Services, request: FastifyRequest, id: string, min: Role = 'reader'): Promise<{ view: ThreatModelView; role: Role }> {
  const caller = principalOf(request);
  await awaitPosition(services, THREAT_MODEL_PROJECTIONS, minPosition(request));
  const view = await findThreatModel(services.database.pool, id);
  const { threatModel, role } = requireThreatModelRole(view, caller, min);
  return { view: threatModel, role };
}
