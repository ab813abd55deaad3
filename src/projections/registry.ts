import type { Projection } from './projection.js';

/** Every projection the service maintains. Domain modules add theirs here. */
export const projections: Projection[] = [];

export function projectionNamed(name: string, list: readonly Projection[] = projections): Projection {
  const p = list.find((x) => x.name === name);
  if (!p) throw new Error(`no projection named ${name}`);
  return p;
}
