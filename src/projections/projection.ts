import type { PoolClient } from 'pg';
import type { StoredEvent } from '../events/types.js';
import type { BulkFold } from './bulk.js';

/**
 * A projector: reads events of the types it handles, in global order, and keeps its read
 * tables. `apply` runs inside the projector's batch transaction, the same one that moves
 * its checkpoint, so a batch is applied entirely or not at all.
 */
export interface Projection {
  readonly name: string;
  /** Bumping the version builds the projection anew beside the live tables, from the first event, and swaps it in (src/projections/rebuild.ts). */
  readonly version: number;
  readonly handles: readonly string[];
  /** Tables this projection owns (in public, named unqualified in its SQL: a rebuild applies with its shadow schema first on the search path). */
  readonly tables: readonly string[];
  /** A poison event either halts the projection until someone acts, or is skipped (and kept as a dead letter). */
  readonly onPoison: 'halt' | 'skip';
  apply(event: StoredEvent, client: PoolClient): Promise<void>;
  /**
   * Optional: a fresh in-memory fold of its events into its final rows, which a rebuild uses to
   * build the shadow from the first event to a recent position in bulk before `apply` takes over
   * (src/projections/bulk.ts). It must produce exactly the rows `apply` would.
   */
  bulk?(): BulkFold;
}
