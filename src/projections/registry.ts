import { clientCredentialsProjection } from './client-credentials.js';
import { metadataProjection } from './metadata.js';
import type { Projection } from './projection.js';
import { threatModelAccessProjection } from './threat-model-access.js';
import { threatModelsProjection } from './threat-models.js';
import { usersProjection } from './users.js';

/** Every projection the service maintains. Domain modules add theirs here. */
export const projections: Projection[] = [
  usersProjection,
  clientCredentialsProjection,
  threatModelsProjection,
  threatModelAccessProjection,
  metadataProjection,
];

export function projectionNamed(name: string, list: readonly Projection[] = projections): Projection {
  const p = list.find((x) => x.name === name);
  if (!p) throw new Error(`no projection named ${name}`);
  return p;
}
