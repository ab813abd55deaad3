import { assertErrorBody } from '../contract/contract.js';
import { groupEntry, signIn, userEntry, type Who } from '../threat-models/helpers.js';
import { json, type TestApp } from './app.js';

/**
 * The seven kinds of caller the authorization matrices ask, and the status TMI's rules give each
 * for a route's minimum role on the threat model (contract `x-tmi-authz`): no token is 401
 * before anything else; a caller whose role is too low, or who has none, is 403.
 */
export type Persona = 'anonymous' | 'no_access' | 'reader' | 'writer' | 'owner' | 'group_member' | 'everyone';
export const PERSONAS: Persona[] = ['anonymous', 'no_access', 'reader', 'writer', 'owner', 'group_member', 'everyone'];

export type Min = 'none' | 'reader' | 'writer' | 'owner';
/** What each persona holds on the threat model: group_member is in a group granted writer; everyone via the `everyone` group as reader. */
const HELD: Record<Persona, Min | null> = { anonymous: null, no_access: null, reader: 'reader', writer: 'writer', owner: 'owner', group_member: 'writer', everyone: 'reader' };
const RANK: Record<Min, number> = { none: 0, reader: 1, writer: 2, owner: 3 };

export function expectedStatus(persona: Persona, min: Min, success: number): number {
  if (persona === 'anonymous') return 401;
  if (min === 'none') return success;
  const held = HELD[persona];
  return held !== null && RANK[held] >= RANK[min] ? success : 403;
}

export type Callers = Record<Exclude<Persona, 'anonymous'>, Who>;

export function signInCallers(app: TestApp): Callers {
  return {
    owner: signIn(app, 'olivia'),
    reader: signIn(app, 'rachel'),
    writer: signIn(app, 'walter'),
    group_member: signIn(app, 'gina', { groups: ['editors'] }),
    no_access: signIn(app, 'nobody'),
    everyone: signIn(app, 'evan'),
  };
}

export const tokenOf = (who: Callers, persona: Persona): string | undefined => (persona === 'anonymous' ? undefined : who[persona].token);

/**
 * The access list of a threat model the owner shares with the reader, the writer and the editors
 * group. Only the everyone persona's threat model also grants the `everyone` group reader: on
 * any other it would make the no-access caller a reader.
 */
export function accessList(who: Callers, persona: Persona): ReturnType<typeof userEntry>[] {
  const entries = [userEntry(who.reader, 'reader'), userEntry(who.writer, 'writer'), groupEntry('editors', 'writer')];
  if (persona === 'everyone') entries.push(groupEntry('everyone', 'reader'));
  return entries;
}

/** The answer's status, once a refusal is seen to carry the contract's Error body. */
export async function answered(res: Response): Promise<number> {
  const body = res.status === 204 ? null : await json(res);
  if (res.status >= 400) assertErrorBody(body);
  return res.status;
}
