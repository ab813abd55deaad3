import { assets } from './assets/index.js';
import { diagrams } from './diagrams/index.js';
import { documents } from './documents/index.js';
import { notes } from './notes/index.js';
import { repositories } from './repositories/index.js';
import { threats } from './threats/index.js';

/**
 * Every kind of resource that lives under a threat model. The event catalog, the projections,
 * the parent's counts and the routes are all built from this one list, so a new kind is its own
 * folder plus a line here.
 */
export const CHILD_AGGREGATES = [threats, diagrams, documents, repositories, notes, assets] as const;
