import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import type { ChildResource } from './definition.js';
import { InputMetadata, withoutNull } from './values.js';

/**
 * Building blocks of a kind's writable fields and its resource definition, for the kinds whose
 * fields are plain values (documents, repositories, notes, assets): what every kind repeats is
 * written here once.
 */

/** TMI's two report flags, which every kind has; both default to true. */
export const ReportFlags = { include_in_report: Type.Boolean(), timmy_enabled: Type.Boolean() };

export const reportFlags = (input: { include_in_report?: boolean; timmy_enabled?: boolean }) => ({
  include_in_report: input.include_in_report ?? true,
  timmy_enabled: input.timmy_enabled ?? true,
});

/** A string enum of the contract, as a union of literals. */
export const OneOf = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

/** A member the client left out is stored as null, so a stored field set always has every member. */
export const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

/** Event data for a field set: the same members, structural only, so stored events stay valid when a limit changes. */
export const structural = (fields: TObject): TObject =>
  Type.Object(Object.fromEntries(Object.keys(fields.properties).map((k) => [k, Type.Unknown()])));

const optionalExcept = (properties: TProperties, required: readonly string[]): TProperties =>
  Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, required.includes(k) ? s : Type.Optional(s as TSchema)]));

/**
 * The contract's `…Input` of a kind: its writable fields, those the contract does not require
 * optional, plus metadata (TMI reads it from any input). A stored field is null when unset, but
 * the input takes null only where the contract does: the members `notNull` names take their
 * value or nothing (the contract's `nullable` beside an `enum` or an `allOf` does not admit null,
 * so a repository's `type` or a threat's `ssvc` sent as null is refused, not read as left out).
 * `members` adds or replaces members where the input differs otherwise: one that is never
 * stored, a diagram's cells in either geometry form.
 */
export function inputSchema(fields: TObject, shape: InputShape): TObject {
  const { required, members = {}, notNull = [] } = shape;
  const properties = Object.fromEntries(Object.entries(fields.properties).map(([k, s]) => [k, notNull.includes(k) ? withoutNull(s as TSchema) : s]));
  return Type.Object({ ...optionalExcept(properties, required), metadata: InputMetadata(), ...members }, { additionalProperties: false });
}

/** An input whose listed members are required too (the contract's …BulkUpdateItem requires more than its …Input). */
export const requiring = (input: TObject, names: readonly string[]): TObject =>
  Type.Object({ ...input.properties, ...Type.Required(Type.Pick(input, names as string[])).properties }, { additionalProperties: false });

/** What a kind's `fromInput` is given: the body that passed the route's schema, its members typed as the fields'. */
export type FieldsInput<F> = Partial<F> & Record<string, unknown>;

/** The contract's input of a kind: the members it requires, the stored members it refuses null for, and those that differ otherwise from the stored fields (see `inputSchema`). */
export interface InputShape { required: readonly string[]; notNull?: readonly string[]; members?: TProperties }

/**
 * A plain kind's definition from its names, its writable fields, its input and TMI's defaults (`fromInput`),
 * with what such kinds share filled in: the label named after the kind, event data structural
 * over the fields, deletes for writers (TMI's rule for every kind but diagrams), 100 metadata
 * entries at most (the contract's limit on each of them).
 */
export function defineChildResource<T extends TObject>(
  kind: ChildResource['kind'],
  plural: string,
  writable: T,
  input: InputShape,
  fromInput: (input: FieldsInput<Static<T>>) => Static<T>,
  rules: Partial<Pick<ChildResource<Static<T>>, 'check' | 'deleteRole' | 'maxMetadata' | 'fieldEvents'>> = {},
): ChildResource<Static<T>> {
  return {
    kind, plural, label: kind[0]!.toUpperCase() + kind.slice(1), writable, stored: structural(writable),
    input: inputSchema(writable, input), required: input.required,
    fromInput: (input) => fromInput(input as FieldsInput<Static<T>>), deleteRole: 'writer', maxMetadata: 100, ...rules,
  };
}
