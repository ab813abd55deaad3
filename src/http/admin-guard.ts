import type { FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from './errors.js';

/** The operators' routes (`/admin/...`): a signed-in administrator, or the contract's 401/403 body. */
export async function requireAdmin(request: FastifyRequest): Promise<void> {
  if (!request.principal) throw unauthorized();
  if (!request.principal.is_admin) throw forbidden('administrator role required');
}
