import { clientCredentialsProjection } from './client-credentials.js';
import type { Projection } from './projection.js';
import { usersProjection } from './users.js';

/** Every projection the service maintains. Domain modules add theirs here. */
export const projections: Projection[] = [
  usersProjection,
  clientCredentialsProjection,
];

export function projectionNamed(name: string, list: readonly Projection[] = projections): Projection {
  const p = list.find((x) => x.name === name);
  if (!p) throw new Error(`no projection named ${name}`);
  return p;
}
