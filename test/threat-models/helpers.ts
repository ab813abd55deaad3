import type { TestApp } from '../helpers/app.js';
import { threatModelStreamId } from '../../src/commands/threat-models/events.js';
import { firstEventsOfThreatModelSql } from '../../src/queries/threat-model-streams.js';

export interface Who {
  name: string;
  token: string;
}

/** A real access token for a test user, signed with the app's key. */
export function signIn(app: TestApp, name: string, extra: { groups?: string[]; provider?: string; is_security_reviewer?: boolean; is_admin?: boolean; email_verified?: boolean } = {}): Who {
  const hex = Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12);
  const { token } = app.runtime.services.tokens.issue({
    user_id: `00000000-0000-4000-8000-${hex}`,
    provider: extra.provider ?? 'tmi',
    provider_id: `${name}@tmi.local`,
    email: `${name}@tmi.local`,
    email_verified: extra.email_verified ?? true,
    name: name[0]!.toUpperCase() + name.slice(1),
    groups: extra.groups ?? [],
    is_admin: extra.is_admin ?? false,
    is_security_reviewer: extra.is_security_reviewer ?? false,
  });
  return { name, token };
}

export const userEntry = (who: Who, role: string) => ({ principal_type: 'user', provider: 'tmi', provider_id: `${who.name}@tmi.local`, role });
export const groupEntry = (group: string, role: string) => ({ principal_type: 'group', provider: '*', provider_id: group, role });

export async function eventCount(app: TestApp): Promise<number> {
  const { rows } = await app.runtime.services.database.pool.query<{ n: string }>('select count(*) as n from events');
  return Number(rows[0]!.n);
}

/**
 * How many events one threat model's streams hold (its own and its sub-resources', sessions
 * included): unlike `eventCount`, not moved by what another test's timers append meanwhile
 * (a host's grace ending its session).
 */
export async function threatModelEventCount(app: TestApp, threatModelId: string): Promise<number> {
  const { rows } = await app.runtime.services.database.pool.query<{ n: string }>(
    `select count(*) as n from events e
      where e.stream_id = $2
         or e.stream_id in (select s.stream_id from events s where ${firstEventsOfThreatModelSql('$1', 's')})`,
    [threatModelId, threatModelStreamId(threatModelId)],
  );
  return Number(rows[0]!.n);
}
