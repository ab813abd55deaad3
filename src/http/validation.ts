import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { isStorableText, mendText } from '../infra/storable-text.js';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerce: boolean): Ajv {
  // Bodies are validated strictly: a string where a number belongs is wrong input, not something to fix up.
  // Unknown fields are refused (additionalProperties: false in the schemas), never silently dropped.
  const ajv = new Ajv({ removeAdditional: false, useDefaults: true, coerceTypes: coerce ? 'array' : false, allErrors: false, strict: false });
  addFormats(ajv);
  const rfc3339 = ajv.formats['date-time'] as { validate: (s: string) => boolean };
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => rfc3339.validate(s) && postgresCanHold(s) });
  return ajv;
}

/**
 * RFC 3339 allows year 0000 and offsets up to ±23:59; PostgreSQL's timestamptz refuses both.
 * Refused at the door, such a value would otherwise fail a query (a 500) or, once inside an
 * event, halt the projection that stores it.
 */
function postgresCanHold(dateTime: string): boolean {
  if (dateTime.startsWith('0000')) return false;
  const offset = /([+-])(\d\d):?(\d\d)$/.exec(dateTime);
  return offset === null || Number(offset[2]) < 16;
}

const strict = makeAjv(false);
const coercing = makeAjv(true);

/** Query strings, params and headers are text and get coerced; bodies are not. */
export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? strict : coercing;
  const validate: ValidateFunction = ajv.compile(schema as object);
  return (data: unknown) => {
    if (!validate(data)) return { error: Object.assign(new Error(ajv.errorsText(validate.errors)), { validation: validate.errors }) };
    const bad = unstorable(data);
    if (bad !== null) return { error: Object.assign(new Error(`${bad.instancePath} ${bad.message}`), { validation: [bad] }) };
    return { value: data };
  };
};

// Deep enough for any TMI document; far below where JSON.stringify (events, comparisons) overflows the stack.
const MAX_DEPTH = 100;

/**
 * Where a request part holds what the service cannot store: a string (or member name) with
 * U+0000 or an unpaired surrogate, or nesting beyond MAX_DEPTH. Iterative, since the nesting
 * is what is being checked.
 */
function unstorable(root: unknown): { instancePath: string; message: string } | null {
  const pending: [unknown, string, number][] = [[root, '', 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path, depth] = next;
    if (typeof value === 'string') {
      if (!isStorableText(value)) return { instancePath: path, message: 'must not contain NUL (U+0000) characters or unpaired surrogates' };
    } else if (value !== null && typeof value === 'object') {
      if (depth >= MAX_DEPTH) return { instancePath: path, message: `must not nest deeper than ${MAX_DEPTH} levels` };
      for (const [k, v] of Object.entries(value)) {
        if (!isStorableText(k)) return { instancePath: `${path}/${mendText(k)}`, message: 'member names must not contain NUL (U+0000) characters or unpaired surrogates' };
        pending.push([v, `${path}/${k}`, depth + 1]);
      }
    }
  }
  return null;
}
