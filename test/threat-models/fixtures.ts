import type { Caller } from '../../src/commands/caller.js';
import type { Authorization } from '../../src/commands/threat-models/values.js';

/** Callers for domain tests; the matching HTTP principals are built from the same data. */
export const caller = (name: string, extra: Partial<Caller> = {}): Caller => ({
  user_id: `00000000-0000-4000-8000-${Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12)}`,
  provider: 'tmi',
  provider_id: `${name}@tmi.local`,
  email: `${name}@tmi.local`,
  email_verified: true,
  name: name[0]!.toUpperCase() + name.slice(1),
  groups: [],
  is_admin: false,
  is_security_reviewer: false,
  ...extra,
});

export const userEntry = (c: Caller, role: Authorization['role']): Authorization => ({
  principal_type: 'user', provider: c.provider, provider_id: c.provider_id, role,
});

export const groupEntry = (group: string, role: Authorization['role'], provider = '*'): Authorization => ({
  principal_type: 'group', provider, provider_id: group, role,
});
