import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../services.js';
import { asOfOf, threatModelThen } from '../as-of.js';
import { registerMetadataRoutes } from '../metadata-routes.js';
import { ThreatModelId } from '../schemas/threat-models.js';
import { readableThreatModel } from '../threat-model-guard.js';
import { existing, runThreatModelCommand } from './threat-models.js';

/** `/threat_models/{threat_model_id}/metadata[/{key}|/bulk]`. */
export const threatModelMetadataRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  registerMetadataRoutes<{ threat_model_id: string }>(app, {
    path: '/threat_models/:threat_model_id',
    params: ThreatModelId,
    tag: 'Threat Model Metadata',
    async read(request, { threat_model_id }, reply) {
      const asOf = asOfOf(request);
      const { view } = await readableThreatModel(services, request, threat_model_id);
      if (!asOf) return view.metadata;
      return (await threatModelThen(services, reply, view.id, asOf, [])).threatModel.metadata;
    },
    async change(request, { threat_model_id }, change) {
      const outcome = await runThreatModelCommand(services, request, threat_model_id, { type: 'ChangeThreatModelMetadata', change });
      return { outcome, metadata: existing(outcome.state).metadata };
    },
  });
};
