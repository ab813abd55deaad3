import { Type } from '@sinclair/typebox';
import { ChildName } from '../../commands/child-resources/values.js';
import { DIAGRAM_TYPES, DiagramFields, diagrams } from '../../commands/diagrams/index.js';
import { ServerMembers } from '../schemas/children.js';
import { metadataValueInput } from '../schemas/threat-models.js';
import { bodySchema, plainChildHttp } from './shapes.js';

const DiagramType = Type.Union(DIAGRAM_TYPES.map((t) => Type.Literal(t)));

/** TMI's CreateDiagramRequest: a diagram is created by name and type; its cells come with PUT, PATCH or the realtime hub. */
const CreateDiagramRequest = Type.Object({ name: ChildName, type: DiagramType }, { additionalProperties: false });

const { metadata: _metadata, version: _version, ...listMembers } = ServerMembers;
/** TMI's DiagramListItem: no cells, no metadata. */
const DiagramListItem = bodySchema(Type.Pick(DiagramFields, ['name', 'type', 'image', 'include_in_report', 'timmy_enabled']), ['name', 'type'], listMembers);

/**
 * DFD diagrams (the contract's DfdDiagram): PUT replaces the cells whole, PATCH edits them by
 * JSON Patch; either way every change moves `update_vector`. Only the owner deletes one.
 */
export const diagramsHttp = plainChildHttp(diagrams, {
  server: { ...ServerMembers, update_vector: Type.Integer({ minimum: 0 }), auto_generated: Type.Boolean() },
  createInput: CreateDiagramRequest,
  listItem: DiagramListItem,
  // Ten thousand cells with their styling run to megabytes, beyond the service's default body limit.
  bodyLimit: 16 * 1024 * 1024,
  // The contract's PUT …/diagrams/{id}/metadata/{key} takes values of up to 1024 characters (1000 elsewhere).
  metadataPutBody: metadataValueInput(1024),
});
