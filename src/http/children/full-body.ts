import { Type, type TObject } from '@sinclair/typebox';
import type { Child, ChildResource } from '../../commands/child-resources/index.js';
import { childrenOfThreatModel } from '../../queries/child-resources.js';
import type { Services } from '../../services.js';
import type { ChildHttp } from './child-http.js';
import { childHttpSpecs } from './index.js';

/** How a kind shows in the full body: as itself, unless the contract gives it another shape there. */
const itemOf = (spec: ChildHttp<object>) => spec.inThreatModel ?? { schema: spec.body, view: spec.view };

/**
 * The child arrays of TMI's full ThreatModel body (`threats`, `diagrams`, `documents`, …): read
 * from the projections in a fixed number of queries however many children there are, each child
 * as its kind's body (or the shape the contract gives the kind there).
 */
export async function childArrays(services: Services, threatModelId: string): Promise<Record<string, unknown[]>> {
  const kinds = childHttpSpecs.map((s) => s.aggregate.resource);
  const rows = await childrenOfThreatModel(services.database.pool, kinds, threatModelId);
  return childArraysOf((resource) => rows.get(resource.plural)!);
}

/** The child arrays from each kind's live children (oldest first), wherever they were read: the read tables, or a fold as of a position. */
export function childArraysOf(childrenOf: (resource: ChildResource) => readonly (Child<object> & { version: number })[]): Record<string, unknown[]> {
  return Object.fromEntries(childHttpSpecs.map((s) => [s.aggregate.resource.plural, childrenOf(s.aggregate.resource as ChildResource).map((c) => itemOf(s).view(c, c.version))]));
}

/** The read tables the child arrays come from: a read asking for a position waits for them as well as for the threat model's. */
export const CHILD_PROJECTIONS: readonly string[] = childHttpSpecs.map((s) => s.aggregate.resource.plural);

/** A new threat model has no children yet: empty arrays, no query. */
export const noChildren = (): Record<string, unknown[]> => Object.fromEntries(childHttpSpecs.map((s) => [s.aggregate.resource.plural, []]));

/** The ThreatModel response schema with the child arrays. */
export const withChildArrays = (threatModel: TObject): TObject =>
  Type.Composite([threatModel, Type.Object(Object.fromEntries(childHttpSpecs.map((s) => [s.aggregate.resource.plural, Type.Array(itemOf(s).schema)])))]);
