import { Type, type Static, type TObject } from '@sinclair/typebox';
import type { ChildResource } from './definition.js';

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

/** What a kind's `fromInput` is given: the body that passed the route's schema, its members typed as the fields'. */
export type FieldsInput<F> = Partial<F> & Record<string, unknown>;

/**
 * A plain kind's definition from its names, its writable fields and TMI's defaults (`fromInput`),
 * with what such kinds share filled in: the label named after the kind, event data structural
 * over the fields, deletes for writers (TMI's rule for every kind but diagrams), 100 metadata
 * entries at most (the contract's limit on each of them).
 */
export function defineChildResource<T extends TObject>(
  kind: ChildResource['kind'],
  plural: string,
  writable: T,
  fromInput: (input: FieldsInput<Static<T>>) => Static<T>,
  rules: Partial<Pick<ChildResource<Static<T>>, 'check' | 'deleteRole' | 'maxMetadata'>> = {},
): ChildResource<Static<T>> {
  return {
    kind, plural, label: kind[0]!.toUpperCase() + kind.slice(1), writable, stored: structural(writable),
    fromInput: (input) => fromInput(input as FieldsInput<Static<T>>), deleteRole: 'writer', maxMetadata: 100, ...rules,
  };
}
