import type { FastifyRequest } from 'fastify';
import { effectiveRole, roleAtLeast } from '../commands/threat-models/authorization.js';
import type { Role } from '../commands/threat-models/values.js';
import { THREAT_MODEL_PROJECTIONS } from '../application/threat-models.js';
import { awaitPosition } from '../application/execute-command.js';
import { findThreatModel, type ThreatModelView } from '../queries/threat-models.js';
import type { Services } from '../services.js';
import { minPosition } from './commands.js';
import { forbidden, notFound } from './errors.js';
import { principalOf } from './plugins/authentication.js';

/**
 * The read-side gate every threat model query (and every child resource's query) goes
 * through: unknown, deleted or unreadable answers 404, readable with too low a role 403.
 * Waits first for a minimum position the caller asked for.
 */
export async function readableThreatModel(services: Services, request: FastifyRequest, id: string, min: Role = 'reader'): Promise<{ view: ThreatModelView; role: Role }> {
  const caller = principalOf(request);
  await awaitPosition(services, THREAT_MODEL_PROJECTIONS, minPosition(request));
  const view = await findThreatModel(services.database.pool, id);
  if (!view || view.deleted_at !== null) throw notFound('threat model not found');
  const role = effectiveRole(caller, view);
  if (role === null) throw notFound('threat model not found');
  if (!roleAtLeast(role, min)) throw forbidden(`this requires the ${min} role`);
  return { view, role };
}
