import { Type, type TSchema } from '@sinclair/typebox';
import { invalid } from '../errors.js';
import { Metadata } from '../threat-models/values.js';

/**
 * Value shapes shared by the child resources, with the contract's limits. Formats are spelled
 * as patterns so the domain needs no format registry (as in threat-models/values.ts).
 */
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** A `Nullable` schema's value alone (what a member the contract does not let be null takes). */
export function withoutNull(schema: TSchema): TSchema {
  if (!Array.isArray(schema.anyOf)) return schema;
  const values = (schema.anyOf as TSchema[]).filter((s) => s.type !== 'null');
  return values.length === 1 ? values[0]! : Type.Union(values);
}

const NO_CONTROL = '^[^\\x00-\\x1F]*$';
const LOOSE_UUID = '^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** Metadata as an input carries it: optional, null meaning none, at most `max` entries (the contract's 100 for most kinds). */
export const InputMetadata = (max = 100) => Type.Optional(Nullable(Type.Array(Metadata, { maxItems: max })));

export const ChildName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^<>"\'&\\x00-\\x1F]*$' });
export const ChildDescription = Type.String({ maxLength: 2048, pattern: '^[^<>\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]*$' });
export const Label = (maxLength: number) => Type.String({ maxLength, pattern: NO_CONTROL });
/** An id of a sibling (diagram, cell, asset) a child may point at; the contract lets it be empty. */
export const SiblingId = Type.String({ maxLength: 36, pattern: LOOSE_UUID });
// RFC 3986 (what the contract's `format: uri` means) for scheme://authority URIs: only URI
// characters and well-formed percent escapes in each part. No IPv6 literal hosts.
const PCT = '%[0-9A-Fa-f]{2}';
const URI_PART = (extra: string) => `(?:[A-Za-z0-9._~!$&'()*+,;=${extra}-]|${PCT})*`;
export const EXTERNAL_URI_PATTERN = `^[a-zA-Z][a-zA-Z0-9+.-]*://(?:${URI_PART(':')}@)?${URI_PART('')}(?::[0-9]*)?(?:/${URI_PART(':@')})*(?:[?]${URI_PART(':@/?')})?(?:#${URI_PART(':@/?')})?$`;
export const ExternalUri = Type.String({ minLength: 1, maxLength: 1000, pattern: EXTERNAL_URI_PATTERN });

/**
 * Scores are 0.0–10.0 in steps of 0.1 (the contract's `multipleOf: 0.1`). Checked here rather
 * than with `multipleOf`, which binary floating point gets wrong for most such values (0.3 / 0.1
 * is not an integer), so validators refuse 0.3 and 9.8. A score is taken only when it is exactly
 * the double its one-decimal reading is (what JSON's `0.3` parses to): a tolerance let through
 * 0.10000001 or 1e-198, which are answered back as given and which the contract refuses.
 */
export function checkOneDecimal(value: number | null | undefined, what: string): void {
  if (value === null || value === undefined) return;
  if (Math.round(value * 10) / 10 !== value) throw invalid(`${what} must have at most one decimal place`);
}
