import type { Caller } from '../caller.js';
import { forbidden, invalid } from '../errors.js';
import { topMember, type PatchOperation } from '../json-patch.js';
import type { Role } from './values.js';

export type { PatchOperation };

/**
 * TMI's default-deny allowlist for JSON Patch on a threat model: each top-level member a
 * patch may touch, and who may touch it. Anything not listed (id, timestamps, alias,
 * created_by, child collections, unknown members) is refused.
 */
export const WRITER_PATHS = ['name', 'description', 'issue_uri', 'metadata', 'threat_model_framework', 'project_id'] as const;
export const OWNER_PATHS = ['owner', 'authorization'] as const;
export const SECURITY_REVIEWER_PATHS = ['status', 'security_reviewer'] as const;

const has = (list: readonly string[], member: string) => list.includes(member);

function checkPointer(pointer: string, role: Role, caller: Caller): void {
  const member = topMember(pointer);
  if (member === null || member === '') throw invalid(`patch path "${pointer}" does not address a field`);
  if (has(WRITER_PATHS, member)) return;
  if (has(OWNER_PATHS, member)) {
    if (role !== 'owner') throw forbidden(`only an owner may change /${member}`, { required_role: 'owner', user_role: role });
    return;
  }
  if (has(SECURITY_REVIEWER_PATHS, member)) {
    if (!caller.is_security_reviewer) throw forbidden(`only a security reviewer may change /${member}`);
    return;
  }
  throw invalid(`patch path "${pointer}" is read-only or unknown`);
}

/** Refuses the whole patch if any operation reaches outside what the caller may change. */
export function checkPatchAllowed(operations: readonly PatchOperation[], role: Role, caller: Caller): void {
  if (operations.length === 0) throw invalid('the patch document is empty');
  for (const op of operations) {
    // A test reads without writing, so it may look anywhere the caller can read.
    if (op.op === 'test') continue;
    checkPointer(op.path, role, caller);
    if (op.from !== undefined) checkPointer(op.from, role, caller);
  }
}
