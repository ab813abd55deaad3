import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

/**
 * Validates response bodies against the TMI contract, read from ../shared/contract at test
 * time (never copied into the project). `responseValidator(method, path, status)` finds the
 * operation's schema for that status, following `$ref`s into components.
 */
const CONTRACT_PATH = fileURLToPath(new URL('../../../shared/contract/tmi-openapi.json', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/**
 * An ajv that judges OpenAPI 3 schemas as this project reads them: every format named, the
 * OpenAPI-only ones (int32, binary…) admitted. `coerceTypes` is for parameters, which arrive as strings; `verbose` names each error's schema and value.
 */
export function openApiAjv(options: Pick<Options, 'coerceTypes' | 'verbose'> = {}): Ajv {
  // multipleOf 0.1 (scores) needs a tolerance: binary floating point makes 9.1 / 0.1 not an integer.
  const ajv = new Ajv({ strict: false, allErrors: true, multipleOfPrecision: 9, ...options });
  addFormats(ajv);
  for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password']) ajv.addFormat(f, true);
  return ajv;
}

/** The contract document (parsed once). */
export const contractDocument = (): Json => load().doc;

let cached: { ajv: Ajv; doc: Json } | null = null;
function load() {
  if (cached) return cached;
  const doc = JSON.parse(readFileSync(CONTRACT_PATH, 'utf8'));
  const ajv = openApiAjv();
  ajv.addSchema(doc, 'tmi');
  cached = { ajv, doc };
  return cached;
}

/** One operation of the contract: method (upper case), path template and the operation object. */
export interface ContractOperation { method: string; path: string; operation: Json }

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Every operation of the contract, in document order. */
export function contractOperations(): ContractOperation[] {
  const { doc } = load();
  return Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({ method: m.toUpperCase(), path, operation: item[m] })));
}

/** Public as the contract says: `x-public-endpoint`, or an empty `security` that overrides the global bearer requirement. */
export const isPublicOperation = (op: ContractOperation): boolean =>
  op.operation['x-public-endpoint'] === true || (Array.isArray(op.operation.security) && op.operation.security.length === 0);

const ROLES = ['none', 'reader', 'writer', 'owner'] as const;

/** The minimum role on the parent threat model the contract's `x-tmi-authz` gives an operation (`none`: no resource check). */
export function requiredRole(method: string, path: string): (typeof ROLES)[number] {
  const op = load().doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`the contract has no operation ${method} ${path}`);
  const role = op['x-tmi-authz']?.ownership;
  if (!ROLES.includes(role)) throw new Error(`${method} ${path} has no x-tmi-authz ownership the matrices know: ${JSON.stringify(role)}`);
  return role;
}

const deref = (doc: Json, node: Json): Json => {
  let n = node;
  while (n && typeof n.$ref === 'string' && n.$ref.startsWith('#/')) {
    n = n.$ref.slice(2).split('/').reduce((o: Json, k: string) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return n;
};

const compiled = new Map<string, ValidateFunction | null>();

/** The contract's validator for a response, or null when the contract gives that status no JSON body. */
export function responseValidator(method: string, path: string, status: number): ValidateFunction | null {
  const key = `${method} ${path} ${status}`;
  if (compiled.has(key)) return compiled.get(key)!;
  const { ajv, doc } = load();
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`the contract has no operation ${method} ${path}`);
  const response = deref(doc, op.responses[String(status)] ?? op.responses.default);
  if (!response) throw new Error(`the contract does not list status ${status} for ${method} ${path}`);
  const schema = response.content?.['application/json']?.schema;
  if (!schema) {
    compiled.set(key, null);
    return null;
  }
  // Rewrite local refs so they resolve inside the registered contract document.
  const rewritten = JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"tmi#/'));
  const validate = ajv.compile(rewritten);
  compiled.set(key, validate);
  return validate;
}

/** Throws with ajv's errors unless the body conforms; returns the contract status list otherwise. */
export function assertConforms(method: string, path: string, status: number, body: unknown): void {
  const validate = responseValidator(method, path, status);
  if (validate === null) {
    if (body !== null && body !== undefined && body !== '') throw new Error(`${method} ${path} ${status} must have no body`);
    return;
  }
  if (!validate(body)) {
    throw new Error(`${method} ${path} ${status} does not conform: ${JSON.stringify(validate.errors?.slice(0, 5))}\nbody: ${JSON.stringify(body).slice(0, 2000)}`);
  }
}

/**
 * Throws unless `body` is the contract's `Error` schema. For statuses an operation does not list
 * (the contract lists 422 and 413 on a few operations only) but whose body must still be TMI's.
 */
export function assertErrorBody(body: unknown): void {
  const { ajv } = load();
  const validate = ajv.getSchema('tmi#/components/schemas/Error');
  if (!validate) throw new Error('the contract has no Error schema');
  if (!validate(body)) throw new Error(`not the contract's Error body: ${JSON.stringify(validate.errors?.slice(0, 5))}\nbody: ${JSON.stringify(body)}`);
}

/** A schema's own members, through `$ref`s and `allOf`; null when it lists none (a free-form object). */
function membersOf(doc: Json, node: Json, value: Record<string, unknown>): Record<string, Json> | null {
  const n = deref(doc, node);
  if (!n || typeof n !== 'object') return null;
  const parts = [n.properties ?? null, ...(n.allOf ?? []).map((p: Json) => membersOf(doc, p, value)), ...branchMembers(doc, n, value)].filter((p) => p !== null);
  return parts.length === 0 ? null : Object.assign({}, ...parts);
}

/** A oneOf/anyOf's members: the branch its discriminator names for the value, else those of every branch. */
function branchMembers(doc: Json, n: Json, value: Record<string, unknown>): (Record<string, Json> | null)[] {
  const branches: Json[] | undefined = n.oneOf ?? n.anyOf;
  if (!branches) return [];
  const mapped = n.discriminator?.mapping?.[String(value[n.discriminator?.propertyName])];
  if (mapped) return [membersOf(doc, { $ref: mapped }, value)];
  return branches.map((b) => membersOf(doc, b, value));
}

/**
 * Throws unless every member of the body, at every depth the contract describes, is one the
 * contract's schema lists. ajv cannot say so (most of the contract's objects allow extra
 * members), but a member the contract does not have is one a TMI client does not expect.
 */
export function assertContractMembers(method: string, path: string, status: number, body: unknown): void {
  const { doc } = load();
  const op = doc.paths[path]?.[method.toLowerCase()];
  const schema = deref(doc, op?.responses[String(status)])?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`the contract gives ${method} ${path} ${status} no JSON body`);
  const extra: string[] = [];
  const walk = (node: Json, value: unknown, at: string) => {
    const n = deref(doc, node);
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(n?.items, v, `${at}/${i}`));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const members = membersOf(doc, n, value as Record<string, unknown>);
    if (members === null) return;
    // An object the contract leaves open on purpose (a cell's data) may hold anything beyond its listed members.
    const open = n?.additionalProperties === true;
    for (const [k, v] of Object.entries(value)) {
      if (!(k in members)) { if (!open) extra.push(`${at}/${k}`); }
      else walk(members[k], v, `${at}/${k}`);
    }
  };
  walk(schema, body, '');
  if (extra.length > 0) throw new Error(`${method} ${path} ${status} answers members the contract does not list: ${extra.join(', ')}`);
}

/** A flattened schema's members and required names, through `$ref`s and `allOf`. */
export interface RequestMembers { properties: Record<string, Json>; required: string[] }

/** The JSON request body schema of an operation (of its items, for an array body), its members dereferenced, for inputs built from the contract. */
export function requestMembers(method: string, path: string): RequestMembers {
  const { doc } = load();
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`the contract has no operation ${method} ${path}`);
  const schema = op.requestBody?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`${method} ${path} takes no JSON body`);
  const flatten = (node: Json): RequestMembers => {
    const n = deref(doc, node);
    if (n.type === 'array') return flatten(n.items);
    const parts = (n.allOf ?? []).map(flatten);
    const properties = Object.fromEntries(Object.entries(n.properties ?? {}).map(([k, v]) => [k, deref(doc, v)]));
    return parts.reduce((a: RequestMembers, b: RequestMembers) => ({ properties: { ...a.properties, ...b.properties }, required: [...a.required, ...b.required] }),
      { properties, required: n.required ?? [] });
  };
  return flatten(schema);
}

/** A body for PUT …/metadata/{key} that sets `value`, as the contract's body for that path has it: the value alone, or the entry with the path's key. */
export function metadataReplacement(path: string, key: string, value: unknown): Record<string, unknown> {
  return 'key' in requestMembers('PUT', path).properties ? { key, value } : { value };
}

/** A member's schema items, dereferenced (arrays). */
export const itemsOf = (schema: Json): Json => deref(load().doc, schema.items);
