import fc from 'fast-check';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Schema = any;

const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.';
const safeChar = fc.constantFrom(...SAFE.split(''));

/** A string a `format` names, which the schema's other limits are then checked against. */
const FORMATS: Record<string, fc.Arbitrary<string>> = {
  uuid: fc.uuid({ version: [4, 7] }),
  'date-time': fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  email: fc.constantFrom('alice@tmi.local', 'someone@example.com', 'x.y@corp.example'),
  uri: fc.constantFrom('https://example.com/a', 'https://docs.example.com/x?y=1', 'http://127.0.0.1:8079/'),
  url: fc.constantFrom('https://example.com/a', 'https://docs.example.com/x?y=1'),
  hostname: fc.constantFrom('example.com', 'tmi.local'),
};

/**
 * Strings the schema accepts. Candidates are drawn once, up front, and only those that fit are
 * kept: a filter inside the arbitrary would spin synchronously (and block every timeout) on a
 * pattern whose matches rarely fit the length limits.
 */
function stringOf(schema: Schema): fc.Arbitrary<string> {
  if (schema.enum) return fc.constantFrom(...(schema.enum as string[]));
  if (schema.const !== undefined) return fc.constant(schema.const as string);
  const min = schema.minLength ?? 0;
  const max = Math.min(schema.maxLength ?? 40, min + 40);
  const pattern = schema.pattern ? new RegExp(schema.pattern, 'u') : null;
  const fits = (v: string) => v.length >= min && v.length <= (schema.maxLength ?? Infinity) && (!pattern || pattern.test(v));
  const sources = [
    FORMATS[schema.format as string],
    fc.string({ unit: safeChar, minLength: min, maxLength: max }),
    ...(pattern ? [fc.stringMatching(pattern, { size: 'small' })] : []),
  ].filter((a): a is fc.Arbitrary<string> => a !== undefined);
  for (const source of sources) {
    const fitting = [...new Set(fc.sample(source, 60))].filter(fits);
    if (fitting.length > 0) return fc.constantFrom(...fitting);
  }
  // Nothing drawn fits (an unusual pattern): a value the service must refuse is still a fair input.
  return fc.constant('');
}

/**
 * Values the schema accepts, built from the schema itself (the service's published request
 * schemas): types, required and optional members, enums, formats, lengths, ranges, item counts.
 * Valid by the schema is not valid by the service's rules (a missing reference, a duplicate
 * key): those are for the service to refuse, with a 4xx.
 */
export function valueOf(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || typeof schema !== 'object' || depth > 6) return fc.constant(null);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) return fc.oneof(...(branches as Schema[]).map((b) => valueOf(b, depth + 1)));
  if (schema.allOf) return valueOf(Object.assign({}, ...schema.allOf), depth + 1);
  const nullable = schema.nullable === true;
  const base = ((): fc.Arbitrary<unknown> => {
    if (schema.enum) return fc.constantFrom(...(schema.enum as unknown[]));
    if (schema.const !== undefined) return fc.constant(schema.const);
    switch (Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type) {
      case 'string': return stringOf(schema);
      case 'integer': return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1_000_000 });
      case 'number': return fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000, noNaN: true, noDefaultInfinity: true })
        .map((n) => (schema.multipleOf ? Math.round(n / schema.multipleOf) * schema.multipleOf : n))
        .filter((n) => n >= (schema.minimum ?? -Infinity) && n <= (schema.maximum ?? Infinity));
      case 'boolean': return fc.boolean();
      case 'array': {
        const item = valueOf(schema.items ?? {}, depth + 1);
        const minLength = schema.minItems ?? 0;
        const maxLength = Math.min(schema.maxItems ?? 3, minLength + 3);
        return schema.uniqueItems
          ? fc.uniqueArray(item, { minLength, maxLength, selector: (v) => JSON.stringify(v) })
          : fc.array(item, { minLength, maxLength });
      }
      case 'object': {
        const properties = (schema.properties ?? {}) as Record<string, Schema>;
        const required = new Set<string>(schema.required ?? []);
        const members = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, valueOf(v, depth + 1)]));
        if (Object.keys(members).length === 0) return fc.dictionary(fc.string({ unit: safeChar, minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 });
        return fc.record(members, { requiredKeys: [...required].filter((k) => k in members) });
      }
      default: return fc.jsonValue({ maxDepth: 2 });
    }
  })();
  return nullable ? fc.oneof(base, fc.constant(null)) : base;
}
