import { auditTrailProjection } from './audit-trail.js';
import { clientCredentialsProjection } from './client-credentials.js';
import { collaborationSessionsProjection } from './collaboration-sessions.js';
import { metadataProjection } from './metadata.js';
import type { Projection } from './projection.js';
import { threatModelAccessProjection } from './threat-model-access.js';
import { CHILD_AGGREGATES } from '../commands/children.js';
import { childCountRules, childProjection } from './child-resources.js';
import { createThreatModelsProjection } from './threat-models.js';
import { threatDashboardProjection } from './threat-dashboard.js';
import { usersProjection } from './users.js';

/** Every projection the service maintains. Domain modules add theirs here. */
export const projections: Projection[] = [
  usersProjection,
  clientCredentialsProjection,
  // Bump the rules' version whenever a kind joins or its rules change: the counts are then rebuilt.
  // 3: documents, repositories, notes and assets. 4: diagrams.
  createThreatModelsProjection({ version: 4, rules: childCountRules(CHILD_AGGREGATES.map((a) => a.resource)) }),
  threatModelAccessProjection,
  metadataProjection,
  ...CHILD_AGGREGATES.map((a) => childProjection(a.resource)),
  threatDashboardProjection,
  collaborationSessionsProjection,
  auditTrailProjection,
];

export function projectionNamed(name: string, list: readonly Projection[] = projections): Projection {
  const p = list.find((x) => x.name === name);
  if (!p) throw new Error(`no projection named ${name}`);
  return p;
}
