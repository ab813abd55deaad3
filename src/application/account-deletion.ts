import { userDecider } from '../auth/identity.js';
import type { Caller } from '../commands/caller.js';
import { USER_STREAM_TYPE, userStreamId } from '../commands/users/events.js';
import type { EventMetadata } from '../events/types.js';
import type { Services } from '../services.js';
import { loadAggregate } from './execute-command.js';
import { decideAndAppendAll } from './multi-stream-command.js';
import { decideOwnershipRelinquish } from './ownership.js';

export interface AccountDeletion {
  /** Threat models handed to another owner from their access list. */
  transferred: string[];
  /** Threat models nobody else owned: deleted (restorable by an administrator). */
  deleted: string[];
  position: number;
}

/**
 * `DELETE /me`, confirmed: the user's deletion and what happens to every threat model they own
 * are one atomic append, so an account is never half deleted. Throws UserNotFoundError when the
 * user is already gone.
 */
export async function deleteAccount(services: Services, caller: Caller, candidates: readonly string[], metadata: EventMetadata): Promise<AccountDeletion> {
  const now = new Date().toISOString();
  const { result, appended } = await decideAndAppendAll(services.store, async () => {
    const user = await loadAggregate(services, userDecider, userStreamId(caller.user_id));
    const userEvents = userDecider.decide({ type: 'DeleteUser', reason: 'self-service deletion' }, { ...user.state, user_id: caller.user_id });
    const threatModels = await decideOwnershipRelinquish(services, caller, candidates, now);
    return {
      appends: [{ stream_id: userStreamId(caller.user_id), stream_type: USER_STREAM_TYPE, expected: user.version, events: userEvents }, ...threatModels.appends],
      result: threatModels.result,
    };
  }, { metadata });
  return { ...result, position: appended?.position ?? 0 };
}
