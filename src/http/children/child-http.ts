import type { TObject } from '@sinclair/typebox';
import type { Child, ChildAggregate } from '../../commands/child-resources/index.js';
import type { ListRefinement } from '../../queries/child-resources.js';

/**
 * What one kind of child resource looks like over HTTP — its contract schemas, its body, its
 * list parameters and which bulk operations the contract gives it. The routes themselves are
 * shared (`child-routes.ts`).
 */
export interface ChildHttp<F extends object> {
  aggregate: ChildAggregate<F>;
  /** The item's path parameter, e.g. `threat_id`. */
  idParam: string;
  /** OpenAPI tag of its operations. */
  tag: string;
  /** The body of PUT, and of POST unless `createInput` says otherwise (the contract's `…Input`). */
  input: TObject;
  /** The body of POST when the contract gives creation its own (diagrams: CreateDiagramRequest, name and type alone). */
  createInput?: TObject;
  /** The largest request body of the kind's writes, when it is more than the service's (a diagram of 10,000 cells). */
  bodyLimit?: number;
  /** What an item answers with (the contract's resource schema). */
  body: TObject;
  view(child: Child<F>, version: number): Record<string, unknown>;
  list: {
    /** The member of the list response holding the items (`threats`, `documents`, …). */
    key: string;
    /** The contract's list item when it is not the whole resource (diagrams without cells, notes without content). */
    item?: { schema: TObject; view(child: Child<F>, version: number): Record<string, unknown> };
    /** Fields the list item does not show, so the list query does not read them (cells, a note's content). */
    omit?: readonly string[];
    /** Extra list parameters (threats' filters and sort): their schema, and how they refine the query. */
    query?: TObject;
    refine?(query: Record<string, unknown>): ListRefinement;
  };
  /** The kind's item in the full ThreatModel body when it is not the resource (assets: ExtendedAsset, with `threat_model_id`). */
  inThreatModel?: { schema: TObject; view(child: Child<F>, version: number): Record<string, unknown> };
  /** Read tables beyond the kind's own that show its changes (threats: the dashboard), so commands wait for them too. */
  alsoShownBy?: readonly string[];
  /**
   * How PUT and PATCH treat a missing If-Match: `expected` (the default) where the contract gives
   * them the header — refused (428) when the server requires it, else answered with TMI's
   * Warning; `optional` where it does not (repositories, notes) — honoured when sent.
   */
  ifMatch?: 'expected' | 'optional';
  /** What PUT `…/metadata/{key}` takes where the contract's body is not the value alone of at most 1000 characters (MetadataOwner.putBody). */
  metadataPutBody?: TObject;
  /** The contract's own 202 body of a create, when it is not the resource itself (documents: `{document, job_id}`). */
  accepted?: { schema: TObject; wrap(body: Record<string, unknown>, child: Child<F>): Record<string, unknown> };
  /**
   * The bulk operations the contract has for the kind, and their success statuses. A bulk
   * update's item is the input with an `id` unless the contract's …BulkUpdateItem says more.
   */
  bulk?: { max: number; create?: 201; update?: 200 | 201; updateItem?: TObject; patch?: boolean; delete?: boolean };
}
