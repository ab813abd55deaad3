import type { ChildKind } from '../commands/child-resources/index.js';
import type { StreamCondition } from '../events/types.js';
import type { Services } from '../services.js';
import { noActiveSession } from './collaboration.js';

/** A rule a kind's writes obey beyond the shared ones: it refuses (a DomainError) or names the streams the append relies on. */
export type ChildWriteGuard = (services: Services, childIds: readonly string[]) => Promise<StreamCondition[]>;

/** Per kind; a diagram in a live collaboration session is the session's to change. */
export const CHILD_WRITE_GUARDS: Partial<Record<ChildKind, ChildWriteGuard>> = { diagram: noActiveSession };
