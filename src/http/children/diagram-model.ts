import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { stringify as toYaml } from 'yaml';
import type { AssetFields } from '../../commands/assets/index.js';
import type { DiagramFields } from '../../commands/diagrams/index.js';
import { findChild, findLiveChildren } from '../../queries/child-resources.js';
import { minimalDiagramModel, referencedAssetIds } from '../../queries/diagram-model.js';
import type { Services } from '../../services.js';
import { awaitPosition } from '../../application/execute-command.js';
import { preferredMediaType } from '../accept.js';
import { minPosition } from '../commands.js';
import { HttpError, notFound } from '../errors.js';
import { ChildParams, Uuid } from '../schemas/children.js';
import { ErrorBody } from '../schemas/common.js';
import { readableThreatModel } from '../threat-model-guard.js';
import { toGraphml } from '../views/graphml.js';
import { assetsHttp } from './assets.js';
import { diagramsHttp } from './diagrams.js';

const TYPES = ['application/json', 'application/yaml', 'application/graphml+xml'] as const;

const Flat = Type.Record(Type.String(), Type.String());
const Terminal = Type.Object({ cell: Uuid, port: Type.Optional(Type.Union([Type.String(), Type.Null()])) });
const common = { id: Uuid, labels: Type.Array(Type.String()), metadata: Flat, data_asset_ids: Type.Optional(Type.Array(Uuid)) };
/** TMI's MinimalDiagramModel (the JSON answer; YAML and GraphML carry the same content). */
const MinimalDiagramModel = Type.Object({
  id: Uuid, name: Type.String(), description: Type.String(), metadata: Flat,
  cells: Type.Array(Type.Union([
    Type.Object({ ...common, shape: Type.String(), parent: Type.Union([Uuid, Type.Null()]), children: Type.Array(Uuid), security_boundary: Type.Boolean() }),
    Type.Object({ ...common, shape: Type.Literal('flow'), source: Terminal, target: Terminal }),
  ])),
  assets: Type.Array(assetsHttp.body),
});

/**
 * `GET …/diagrams/{diagram_id}/model`: the diagram as TMI's minimal model, in the format the
 * Accept header asks for — JSON, YAML or GraphML — with the assets its cells reference.
 */
export const diagramModelRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  app.get('/threat_models/:threat_model_id/diagrams/:diagram_id/model', {
    schema: {
      tags: ['Diagrams'], security: [{ bearerAuth: [] }], params: ChildParams('diagram_id'),
      response: { 200: MinimalDiagramModel, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 406: ErrorBody },
    },
  }, async (request, reply) => {
    const { threat_model_id: tm, diagram_id: id } = request.params as { threat_model_id: string; diagram_id: string };
    const type = preferredMediaType(request.headers.accept, TYPES);
    if (type === null) throw new HttpError(406, 'not_acceptable', `the model is available as ${TYPES.join(', ')}`);
    const { view } = await readableThreatModel(services, request, tm);
    await awaitPosition(services, [diagramsHttp.aggregate.resource.plural, assetsHttp.aggregate.resource.plural], minPosition(request));
    const diagram = await findChild<DiagramFields>(services.database.pool, diagramsHttp.aggregate.resource, tm, id);
    if (!diagram || diagram.deleted_at !== null) throw notFound('diagram not found');
    const assets = await findLiveChildren<AssetFields>(services.database.pool, assetsHttp.aggregate.resource, tm, referencedAssetIds(diagram.fields.cells));
    const model = minimalDiagramModel(view, diagram.fields.cells, assets.map((a) => assetsHttp.view(a, a.version)));
    if (type === 'application/json') return model;
    reply.type(`${type}; charset=utf-8`);
    return type === 'application/yaml' ? toYaml(model) : toGraphml(model, diagram.id);
  });
};
