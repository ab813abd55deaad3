import { Type, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import type { Child, ChildAggregate } from '../../commands/child-resources/index.js';
import { requiring } from '../../commands/child-resources/fields.js';
import { ServerMembers, WithId } from '../schemas/children.js';
import type { ChildHttp } from './child-http.js';

/**
 * The HTTP shapes of a kind whose contract schemas are its writable fields plus server members
 * (documents, repositories, notes, assets): the `…Input`, the resource and its view are built
 * from the stored fields and the contract's list of required members, so they cannot drift
 * apart. A kind whose contract differs more (threats) writes its own.
 */

const { version: _version, ...unversioned } = ServerMembers;
/** The server members of every child but `version`, which some of the contract's resources lack (Repository, Note). */
export const UnversionedMembers = unversioned;

/** The contract's resource: its server members and the writable fields, unset ones left out. */
export function bodySchema(fields: TObject, required: readonly string[], server: TProperties): TObject {
  return Type.Object({ ...server, ...Object.fromEntries(Object.entries(fields.properties).map(([k, s]) => [k, required.includes(k) ? s : Type.Optional(s as TSchema)])) });
}

/** The members a child's row holds beside its fields; they win over a field of the same name. */
const SERVER_VALUES = new Map<string, (c: Child<object>, version: number) => unknown>([
  ['id', (c) => c.id], ['threat_model_id', (c) => c.threat_model_id], ['alias', (c) => c.alias], ['metadata', (c) => c.metadata],
  ['auto_generated', (c) => c.auto_generated], ['created_at', (c) => c.created_at], ['modified_at', (c) => c.modified_at],
  ['deleted_at', (c) => c.deleted_at], ['version', (_c, version) => version],
  // A diagram's update vector is its stream version: every change moves it, and the realtime hub numbers operations by it.
  ['update_vector', (_c, version) => version],
]);

/**
 * A child as a schema shows it: exactly the members the schema lists (so a contract schema that
 * lacks `version` or `threat_model_id` never gets one), unset ones left out as TMI does.
 */
export function viewOf<F extends object>(schema: TObject): (child: Child<F>, version: number) => Record<string, unknown> {
  const members = Object.keys(schema.properties);
  // A plain loop and no intermediate object: the full ThreatModel body runs this for every child.
  return (c, version) => {
    const fields = c.fields as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of members) {
      const server = SERVER_VALUES.get(k);
      const v = server ? server(c, version) : fields[k];
      if (v !== null && v !== undefined) out[k] = v;
    }
    return out;
  };
}

type Bulk = NonNullable<ChildHttp<object>['bulk']>;

export interface PlainKind<F extends object> extends Pick<ChildHttp<F>, 'ifMatch' | 'metadataPutBody'> {
  /** Server members of the contract's resource (`ServerMembers`, `UnversionedMembers`, …). */
  server: TProperties;
  /** The list item, when the contract's list shows less than the resource (NoteListItem); the fields it leaves out are not read. */
  listItem?: TObject;
  /** POST's own body, when the contract gives creation one (see ChildHttp). */
  createInput?: TObject;
  bodyLimit?: number;
  /** Server members of the kind's item in the full ThreatModel body, when they are not the resource's (ExtendedAsset). */
  inThreatModel?: TProperties;
  /** The contract's own 202 body of a create, built around the resource's schema. */
  accepted?(body: TObject): NonNullable<ChildHttp<F>['accepted']>;
  /** The bulk operations; `updateRequires` names members a bulk update item requires beyond the input's. */
  bulk?: Omit<Bulk, 'updateItem'> & { updateRequires?: readonly string[] };
}

/** A schema and the view that shows a child as it. */
const shown = <F extends object>(schema: TObject) => ({ schema, view: viewOf<F>(schema) });

/** The stored fields a schema does not show. */
const unshown = (fields: TObject, schema: TObject) => Object.keys(fields.properties).filter((k) => !(k in schema.properties));

/** The HTTP spec of a plain kind: its path parameter, tag and list key from its names, its shapes from its fields. */
export function plainChildHttp<F extends object>(aggregate: ChildAggregate<F>, kind: PlainKind<F>): ChildHttp<F> {
  const { resource } = aggregate;
  const fields = resource.writable as TObject;
  const body = bodySchema(fields, resource.required, kind.server);
  const { updateRequires, ...bulk } = kind.bulk ?? { max: 0 };
  return {
    aggregate,
    idParam: `${resource.kind}_id`,
    tag: resource.plural[0]!.toUpperCase() + resource.plural.slice(1),
    input: resource.input,
    body,
    view: viewOf<F>(body),
    list: { key: resource.plural, ...(kind.listItem ? { item: shown(kind.listItem), omit: unshown(fields, kind.listItem) } : {}) },
    ...(kind.createInput ? { createInput: kind.createInput } : {}),
    ...(kind.bodyLimit ? { bodyLimit: kind.bodyLimit } : {}),
    ...(kind.inThreatModel ? { inThreatModel: shown(bodySchema(fields, resource.required, kind.inThreatModel)) } : {}),
    ...(kind.ifMatch ? { ifMatch: kind.ifMatch } : {}),
    ...(kind.metadataPutBody ? { metadataPutBody: kind.metadataPutBody } : {}),
    ...(kind.accepted ? { accepted: kind.accepted(body) } : {}),
    ...(kind.bulk ? {
      bulk: { ...bulk, ...(updateRequires ? { updateItem: WithId(requiring(resource.input, updateRequires)) } : {}) },
    } : {}),
  };
}
