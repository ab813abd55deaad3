import type { ErrorObject, ValidateFunction } from 'ajv';
import { openApiAjv } from '../contract/contract.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** What the fuzzer sent, as the service receives it: decoded path values, query entries, headers (lower case), the body. */
export interface SentRequest {
  pathValues: Record<string, string>;
  query: [string, string][];
  headers: Record<string, string>;
  body: { kind: 'none' } | { kind: 'raw'; text: string } | { kind: 'json'; value: unknown };
  contentType: string | null;
}

/**
 * The contract contradicts itself on one value: `issue_uri`'s pattern admits "" (no issue, as TMI's
 * clients send to clear it) while its `format: uri` refuses it. The service keeps TMI's "": an
 * issue_uri of "" is left out of a response before the contract judges it, nothing else is.
 */
export function withoutEmptyIssueUri(body: unknown): unknown {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).filter(([k, x]) => !(k === 'issue_uri' && x === '')).map(([k, x]) => [k, strip(x)]));
  };
  return strip(body);
}

/** Media types whose bodies the judge does not parse (a JSON text sent as a form is not a form it can read back). */
const UNJUDGED_MEDIA = new Set(['application/x-www-form-urlencoded', 'multipart/form-data']);

/**
 * Judges requests against an OpenAPI document's request schemas (the operation's parameters and
 * requestBody), as the document states them and nothing more: a request the schemas admit may
 * still break a business rule (a missing reference, a duplicate), which is the service's to
 * refuse; a request they refuse must be refused. `documentId` names the document for its `$ref`s.
 */
export function requestJudge(doc: Json, documentId: string) {
  // Parameters arrive as strings: "5" is the integer 5, a single value the array [value].
  const coercing = openApiAjv({ coerceTypes: 'array', verbose: true });
  const plain = openApiAjv({ verbose: true });
  coercing.addSchema(doc, documentId);
  plain.addSchema(doc, documentId);
  const refs = (schema: Json): Json => JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, `"$ref":"${documentId}#/`));
  const deref = (node: Json): Json => {
    let n = node;
    while (n && typeof n.$ref === 'string' && n.$ref.startsWith('#/')) {
      n = n.$ref.slice(2).split('/').reduce((o: Json, k: string) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    }
    return n;
  };
  const compiled = new Map<string, ValidateFunction>();
  const compile = (key: string, build: () => ValidateFunction): ValidateFunction => {
    if (!compiled.has(key)) compiled.set(key, build());
    return compiled.get(key)!;
  };
  /**
   * The contract contradicts itself on "" in a few members (issue_uri, a threat's diagram_id,
   * cell_id, asset_id): the pattern admits it (none, as TMI's clients send to clear one) while the
   * format refuses it. The pattern, which states the intent, decides: such a format error is none.
   */
  const contradiction = (e: ErrorObject) => e.keyword === 'format' && e.data === '' && typeof e.parentSchema?.pattern === 'string' && new RegExp(e.parentSchema.pattern, 'u').test('');
  const errorsOf = (v: ValidateFunction): string[] => (v.errors ?? []).filter((e) => !contradiction(e)).map((e) => `${e.instancePath} ${e.message}${e.data === null ? ' (got null)' : ''}`);

  /** Why the document refuses the request; empty when it admits it (or says nothing this judge can read). */
  return function violations(method: string, path: string, sent: SentRequest): string[] {
    const item = doc.paths?.[path];
    const op = item?.[method];
    if (!op) return [];
    // fetch resolves "." and ".." segments: such a call reaches another route, not this operation.
    if (Object.values(sent.pathValues).some((v) => v === '.' || v === '..')) return [];
    const reasons: string[] = [];
    const parameters = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref);
    for (const p of parameters) {
      if (!['path', 'query', 'header'].includes(p.in)) continue;
      let values: string[] = p.in === 'path' ? (sent.pathValues[p.name] === undefined ? [] : [sent.pathValues[p.name]!])
        : p.in === 'query' ? sent.query.filter(([k]) => k === p.name).map(([, v]) => v)
          : sent.headers[String(p.name).toLowerCase()] === undefined ? [] : [sent.headers[String(p.name).toLowerCase()]!];
      if (values.length === 0) {
        // A required parameter with a default is one the service fills in (Fastify applies schema defaults):
        // the published document lists such TypeBox members as required.
        if (p.required && deref(p.schema)?.default === undefined) reasons.push(`the ${p.in} parameter ${p.name} is required`);
        continue;
      }
      const schema = deref(p.schema);
      const isArray = schema?.type === 'array';
      if (p.in === 'query' && isArray && p.explode === false) values = values.join(',').split(',');
      // A scalar sent twice: the document does not say which one counts.
      if (!isArray && values.length > 1) continue;
      const validate = compile(`${method} ${path} ${p.in} ${p.name}`, () => coercing.compile(refs({ type: 'object', properties: { v: p.schema ?? {} }, required: ['v'] })));
      validate({ v: isArray ? values : values[0] });
      const errors = errorsOf(validate);
      reasons.push(...errors.map((e) => `the ${p.in} parameter ${p.name}=${JSON.stringify(values).slice(0, 80)}: ${e}`));
    }
    const requestBody = deref(op.requestBody);
    if (!requestBody) return reasons;
    if (sent.body.kind === 'none' || (sent.body.kind === 'raw' && sent.body.text === '')) {
      if (requestBody.required) reasons.push('the request body is required');
      return reasons;
    }
    const media = (sent.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const content = requestBody.content ?? {};
    if (!Object.hasOwn(content, media)) {
      reasons.push(`the body's media type ${media || '(none)'} is not one the operation takes (${Object.keys(content).join(', ')})`);
      return reasons;
    }
    if (UNJUDGED_MEDIA.has(media) || !content[media].schema) return reasons;
    let value: unknown;
    if (sent.body.kind === 'raw') {
      try { value = JSON.parse(sent.body.text); } catch { reasons.push('the body is not JSON'); return reasons; }
    } else value = sent.body.value;
    const validate = compile(`${method} ${path} body ${media}`, () => plain.compile(refs(content[media].schema)));
    validate(value);
    const errors = errorsOf(validate);
    reasons.push(...errors.map((e) => `the body: ${e}`));
    return reasons;
  };
}
