import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertConforms, assertErrorBody, contractDocument, contractOperations, isPublicOperation } from '../contract/contract.js';
import { KIND_SPECS } from '../child-resources/kinds.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { loginWithDevProvider } from '../helpers/login.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';
import { badAuthorizations } from './bad-credentials.js';
import { declaredMediaTypes, isDeclared } from './response-media.js';
import { HIDDEN_PATHS, servedOperations, unwalkedOperations } from './hidden-operations.js';
import { keepsNoReplay, unexplained } from './known-findings.js';
import { requestJudge, withoutEmptyIssueUri, type SentRequest } from './request-validity.js';
import { valueOf } from './schema-values.js';
import { projections } from '../../src/projections/registry.js';

/**
 * Whole-API fuzzing: every operation in the OpenAPI document the service publishes, called by
 * random callers with random parameters, bodies and headers — some valid by the published
 * schemas, some not. Whatever comes in: no 5xx; every error answers the contract's Error body;
 * a refused request appends nothing to the event store; a request the contract's request schemas
 * refuse (the published document's, for an operation the contract does not have) is refused with
 * a 4xx, so it appends nothing either; a success to an operation of TMI's contract validates
 * against the contract's response schema. Headers vary too: an Authorization that names no one
 * (malformed, expired, another issuer…) is a 401 wherever a caller is needed; an ill-formed
 * Idempotency-Key changes nothing and a resend under a valid one replays without writing again;
 * an X-Min-Position that is no position is refused by a threat model's reads; `Prefer:
 * respond-async` may turn a success into a 202 with the same body. What the service accepts against the contract is listed,
 * by name, in known-findings.ts.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 6);
/**
 * The default run is reproducible (a fixed seed per operation), so CI judges the same calls each
 * time; FUZZ_SEED=<n> draws others (FUZZ_SEED=random for a fresh one each run).
 */
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() % 2_147_483_647 : Number(process.env.FUZZ_SEED ?? 20_261_204);
/** Each operation's seed follows from its name, so FUZZ_ONLY replays an operation's calls exactly as the whole walk made them. */
const seedOf = (operation: string): number => [...operation].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 2_147_483_647, SEED);
/** FUZZ_ONLY=<regex> walks only the paths it matches (when chasing one failure). */
const ONLY = process.env.FUZZ_ONLY ? new RegExp(process.env.FUZZ_ONLY) : null;
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
type CallerName = 'anonymous' | 'stranger' | 'reader' | 'writer' | 'owner' | 'administrator' | 'client';
const CALLERS: CallerName[] = ['anonymous', 'stranger', 'reader', 'writer', 'owner', 'administrator', 'client'];
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
// A refused sign-in is recorded on purpose (auditors need failed logins): the one event a 4xx may append.
const COUNTED = "select count(*)::int as n from events where type <> 'LoginFailed'";
const HEAD = 'select coalesce(max(position), 0)::text as head from events';
/** What an Idempotency-Key may hold (src/http/commands.ts): 1-128 of these. */
const COMMAND_ID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-'.split('');
const isPosition = (v: string) => v === 'head' || /^[0-9]+$/.test(v) && Number.isSafeInteger(Number(v));

/** Runs a contract check, failing with the call and what the contract says is wrong (not a truncated "expected not to throw"). */
function conforms(check: () => void, label: string): void {
  try {
    check();
  } catch (err) {
    throw new Error(`${label}\n→ ${(err as Error).message.slice(0, 1500)}`, { cause: err });
  }
}

interface World { tm: string; children: Record<string, string>; tokens: Record<CallerName, string | null> }

describe('whole-API fuzzing', () => {
  let app: TestApp;
  let doc: Json;
  let world: World;
  let generation = 0;
  const contract = new Set(contractOperations().map((o) => `${o.method} ${o.path}`));
  /** Requests are judged by the contract where it has the operation, else by the document the service publishes (its extensions). */
  const contractViolations = requestJudge(contractDocument(), 'tmi');
  let publishedViolations: ReturnType<typeof requestJudge>;
  const hiddenViolations = requestJudge({ paths: HIDDEN_PATHS }, 'hidden');
  const violationsOf = (name: string, path: string) => (contract.has(name) ? contractViolations : Object.hasOwn(HIDDEN_PATHS, path) ? hiddenViolations : publishedViolations);

  async function request(method: string, path: string, token: string | null, body?: unknown) {
    const res = await app.request(path, { method, ...(token ? { token } : {}), ...(body === undefined ? {} : { json: body }) });
    return { status: res.status, body: (res.headers.get('content-type')?.includes('json') ? await res.json() : null) as Json };
  }

  /** A threat model with one of every child and metadata on each, its owner, writer and reader, and the other callers; fresh users each time. */
  async function build(): Promise<World> {
    generation++;
    // Signed in through the real flow, so each is a registered user (GET /me, preferences, transfer…).
    const who = async (role: string): Promise<Who> => {
      const name = `fuzz${generation}${role}`;
      return { name, token: (await loginWithDevProvider(app, name)).access_token };
    };
    const users = {
      stranger: await who('stranger'), reader: await who('reader'), writer: await who('writer'), owner: await who('owner'), robot: await who('robot'),
      administrator: signIn(app, `fuzzadmin${generation}`, { is_admin: true }),
    };
    const created = await request('POST', '/threat_models', users.owner.token, { name: 'Fuzz target', authorization: [userEntry(users.writer, 'writer'), userEntry(users.reader, 'reader')] });
    expect(created.status).toBe(201);
    const tm = created.body.id as string;
    expect((await request('POST', `/threat_models/${tm}/metadata`, users.owner.token, { key: 'seed', value: 's' })).status).toBe(201);
    const children: Record<string, string> = {};
    for (const spec of KIND_SPECS) {
      const child = await request('POST', `/threat_models/${tm}/${spec.plural}`, users.owner.token, spec.valid);
      expect(child.status, spec.plural).toBe(201);
      children[spec.plural] = child.body.id;
      expect((await request('POST', `/threat_models/${tm}/${spec.plural}/${child.body.id}/metadata`, users.owner.token, { key: 'seed', value: 's' })).status).toBe(201);
    }
    const credential = await request('POST', '/me/client_credentials', users.robot.token, { name: 'fuzz robot' });
    expect(credential.status).toBe(201);
    const grant = await request('POST', '/oauth2/token', null, { grant_type: 'client_credentials', client_id: credential.body.client_id, client_secret: credential.body.client_secret });
    expect(grant.status).toBe(200);
    return {
      tm,
      children,
      tokens: {
        anonymous: null, stranger: users.stranger.token, reader: users.reader.token, writer: users.writer.token,
        owner: users.owner.token, administrator: users.administrator.token, client: grant.body.access_token,
      },
    };
  }

  beforeAll(async () => {
    // Rate limits would answer most of the run with 429: they have their own tests.
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 }, rate_limit: { enabled: false } } });
    doc = await json(await app.request('/openapi.json'));
    publishedViolations = requestJudge(doc, 'published');
    world = await build();
    badAuthorization = badAuthorizations(app, world.tokens.owner!);
  }, 180_000);
  afterAll(async () => { await app?.stop(); });

  const CHILD_PARAMS: Record<string, string> = Object.fromEntries(KIND_SPECS.map((s) => [s.idParam, s.plural]));
  const junk = fc.string({ minLength: 1, maxLength: 40 });
  let badAuthorization: Record<string, string> = {};
  /** A header sent on about one call in n (fc.option's freq is the other way round: one in n is left out). */
  const oneIn = <T>(n: number, arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });

  /** A path parameter: usually the world's resource of that name, else another id or junk. */
  function parameterValue(name: string): fc.Arbitrary<string> {
    const known = (): string | null => {
      if (name === 'threat_model_id') return world.tm;
      if (CHILD_PARAMS[name]) return world.children[CHILD_PARAMS[name]!]!;
      if (name === 'key') return 'seed';
      if (name === 'idp') return 'tmi';
      if (name === 'name') return projections[0]!.name;
      if (name === 'id') return '1';
      if (name === 'asset') return 'console.js';
      return null;
    };
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant(null).map(() => known() ?? crypto.randomUUID()) },
      { weight: 2, arbitrary: fc.uuid({ version: [4, 7] }) },
      { weight: 2, arbitrary: junk },
    );
  }

  /** One random call of an operation: who, the filled path, the query, the body and headers. */
  function callOf(path: string, method: string, operation: Json) {
    const parameters = (operation.parameters ?? []) as Json[];
    const pathParams = parameters.filter((p) => p.in === 'path');
    const queryParams = parameters.filter((p) => p.in === 'query');
    const bodySchema = operation.requestBody?.content?.['application/json']?.schema ?? operation.requestBody?.content?.['application/json-patch+json']?.schema;
    const query: fc.Arbitrary<unknown> = fc.tuple(fc.tuple(...queryParams.map((p) => fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: valueOf(p.schema) },
      { weight: 1, arbitrary: junk },
    ))), oneIn(10, fc.tuple(junk, junk)));
    const body = bodySchema
      ? fc.oneof(
        { weight: 6, arbitrary: valueOf(bodySchema).map((v) => ({ kind: 'json' as const, value: v })) },
        { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ kind: 'json' as const, value: v })) },
        { weight: 1, arbitrary: fc.constantFrom('{"name":', '[', 'not json', '').map((v) => ({ kind: 'raw' as const, value: v })) },
        { weight: 1, arbitrary: fc.constant({ kind: 'none' as const, value: undefined }) },
      )
      : fc.oneof(
        { weight: 9, arbitrary: fc.constant({ kind: 'none' as const, value: undefined }) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => ({ kind: 'json' as const, value: v })) },
      );
    const headers = fc.record({
      ifMatch: oneIn(4, fc.constantFrom('"1"', '"999"', 'garbage', '*')),
      accept: oneIn(8, fc.constantFrom('application/xml', 'application/x-ndjson', '*/*', 'text/html')),
      contentType: oneIn(8, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1')),
      // In place of the caller's token: one that must not authenticate anyone (bad-credentials.ts).
      badAuthorization: oneIn(6, fc.constantFrom(...Object.keys(badAuthorization))),
      idempotencyKey: oneIn(4, fc.oneof(
        { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...COMMAND_ID_CHARS), minLength: 1, maxLength: 40 }).map((key) => ({ key, valid: true })) },
        { weight: 1, arbitrary: fc.constantFrom('', 'has space', 'x'.repeat(129), 'semi;colon', 'a/b', 'clé').map((key) => ({ key, valid: false })) },
      )),
      prefer: oneIn(5, fc.constantFrom('respond-async', 'respond-async, wait=1', 'RESPOND-ASYNC', 'return=minimal', ';;=junk,,', 'respond-asyncx')),
      // 'head' is the store's newest position when the call is made (a wait already satisfied); the rest are not positions.
      minPosition: oneIn(5, fc.constantFrom('0', 'head', 'abc', '-1', '1.5', '1e400', '99999999999999999999')),
    });
    return fc.record({
      caller: fc.constantFrom(...CALLERS),
      params: fc.tuple(...pathParams.map((p) => parameterValue(p.name))),
      query,
      body,
      headers,
    }).map((c) => {
      let filled = path;
      const pathValues: Record<string, string> = {};
      pathParams.forEach((p, i) => {
        pathValues[p.name] = c.params[i]!;
        filled = filled.replace(`{${p.name}}`, encodeURIComponent(c.params[i]!));
      });
      const search = new URLSearchParams();
      const [values, extra] = c.query as unknown as [unknown[], [string, string] | null];
      queryParams.forEach((p, i) => {
        const v = values[i];
        if (v === undefined) return;
        for (const item of Array.isArray(v) ? v : [v]) search.append(p.name, typeof item === 'string' ? item : JSON.stringify(item));
      });
      if (extra) search.append(extra[0], extra[1]);
      const qs = search.toString();
      return { ...c, pathValues, queryEntries: [...search.entries()], url: qs ? `${filled}?${qs}` : filled };
    });
  }

  it('answers every operation, whoever calls and whatever they send, with no 5xx, the error body, and nothing appended on refusal', { timeout: 900_000 }, async () => {
    // The published operations, and the ones the service hides from its document (the operators').
    const ops = [...Object.entries(doc.paths as Record<string, Json>), ...Object.entries(HIDDEN_PATHS)].filter(([path]) => !ONLY || ONLY.test(path))
      .flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => ({ path, method: m, operation: item[m] })));
    if (!ONLY) expect(ops.length).toBeGreaterThan(140);
    const seen = new Map<string, Set<number>>();
    const failures: string[] = [];
    for (const { path, method, operation } of ops) {
      const name = `${method.toUpperCase()} ${path}`;
      try {
        await fc.assert(fc.asyncProperty(callOf(path, method, operation), async (call) => {
          const before = (await app.runtime.services.database.pool.query<{ n: number }>(COUNTED)).rows[0]!.n;
          const token = world.tokens[call.caller];
          const h = call.headers;
          const headers: Record<string, string> = {};
          if (h.badAuthorization) headers.authorization = badAuthorization[h.badAuthorization]!;
          else if (token) headers.authorization = `Bearer ${token}`;
          if (h.ifMatch) headers['if-match'] = h.ifMatch;
          if (h.accept) headers.accept = h.accept;
          if (h.idempotencyKey) headers['idempotency-key'] = h.idempotencyKey.key;
          if (h.prefer) headers.prefer = h.prefer;
          if (h.minPosition) headers['x-min-position'] = h.minPosition === 'head' ? (await app.runtime.services.database.pool.query<{ head: string }>(HEAD)).rows[0]!.head : h.minPosition;
          let payload: string | undefined;
          // fetch cannot send a GET with a body (nor do TMI's clients).
          if (call.body.kind !== 'none' && method !== 'get') {
            payload = call.body.kind === 'json' ? JSON.stringify(call.body.value) : call.body.value;
            headers['content-type'] = call.headers.contentType ?? (method === 'patch' && !path.endsWith('/bulk') ? 'application/json-patch+json' : 'application/json');
          }
          const sent: SentRequest = {
            pathValues: call.pathValues,
            query: call.queryEntries,
            headers,
            body: payload === undefined ? { kind: 'none' } : call.body.kind === 'raw' ? { kind: 'raw', text: call.body.value } : { kind: 'json', value: call.body.value },
            contentType: headers['content-type'] ?? null,
          };
          const violations = violationsOf(name, path)(method, path, sent);
          const invalid = unexplained(name, violations);
          // A success echoing a value a known finding let in does not conform for that same finding.
          const echoesKnownFinding = invalid.length < violations.length;
          const res = await fetch(`${app.url}${call.url}`, { method: method.toUpperCase(), headers, body: payload, redirect: 'manual' });
          const text = await res.text();
          const type = res.headers.get('content-type') ?? '';
          const body = type.includes('json') && !type.includes('ndjson') && text ? JSON.parse(text) : text;
          const sentHeaders = Object.entries(headers).filter(([k]) => k !== 'authorization').map(([k, v]) => `${k}: ${v.slice(0, 40)}`).join(', ');
          const as = h.badAuthorization ? `${call.caller}'s call with a bad Authorization (${h.badAuthorization})` : call.caller;
          const label = `${name} as ${as}: ${method.toUpperCase()} ${call.url} [${sentHeaders}] ${payload?.slice(0, 300) ?? ''} → ${res.status} ${text.slice(0, 300)}`;
          if (!h.badAuthorization) seen.set(name, (seen.get(name) ?? new Set()).add(res.status));
          expect(res.status, label).toBeLessThan(500);
          // A request the schemas refuse is refused, whatever the caller: the checks below then hold for it.
          if (invalid.length > 0 && (res.status < 400 || res.status >= 500)) {
            throw new Error(`${label}\n→ ${contract.has(name) ? 'the contract' : Object.hasOwn(HIDDEN_PATHS, path) ? 'the route\'s schema' : 'the published document'} refuses this request (${invalid.join('; ')}) but it was answered ${res.status}`);
          }
          // Authentication comes before anything else: a credential that names no one is a 401 wherever one is needed.
          if (h.badAuthorization && !publicOperation(name, operation)) expect(res.status, `${label}: a bad Authorization must be refused`).toBe(401);
          // The service refuses these where it reads them (a query of a threat model waits for the position; a command takes the key).
          if (h.minPosition && !isPosition(h.minPosition) && method === 'get' && path.startsWith('/threat_models')) {
            expect(res.status, `${label}: an X-Min-Position that is no position must be refused`).toBeGreaterThanOrEqual(400);
          }
          const after = (await app.runtime.services.database.pool.query<{ n: number }>(COUNTED)).rows[0]!.n;
          if (h.idempotencyKey && !h.idempotencyKey.valid) expect(after, `${label}: a change was made under an invalid Idempotency-Key`).toBe(before);
          if (h.idempotencyKey && !h.idempotencyKey.valid && method !== 'get') expect(res.status, `${label}: a write under an ill-formed Idempotency-Key must be refused`).toBeGreaterThanOrEqual(400);
          if (res.status >= 400) {
            conforms(() => assertErrorBody(body), label);
            expect(after, `${label}: a refused request appended events`).toBe(before);
          } else if (res.status >= 200 && res.status < 300 && contract.has(name) && !echoesKnownFinding && type.includes('application/json')) {
            conforms(() => assertConforms(method.toUpperCase(), path, contractStatus(name, operation, res.status, h.prefer), withoutEmptyIssueUri(body)), label);
          }
          // A success's media type is one its document declares for that status; a body it declares none for is empty.
          if (res.status >= 200 && res.status < 300 && !echoesKnownFinding) {
            const source = contract.has(name) ? contractDocument() : Object.hasOwn(HIDDEN_PATHS, path) ? { paths: HIDDEN_PATHS } : doc;
            const declared = declaredMediaTypes(source, method, path, contract.has(name) ? contractStatus(name, operation, res.status, h.prefer) : res.status);
            if (declared !== null && declared.length > 0) expect(isDeclared(type, declared), `${label}: answered ${type || 'no Content-Type'}; declared ${declared.join(', ')}`).toBe(true);
            if (declared !== null && declared.length === 0) expect(text, `${label}: a body where none is declared`).toBe('');
          }
          // The same request under the same valid key is a replay: the first answer's status, nothing appended again.
          // (Unless the call signed its caller out — a logout, a deletion —: authentication comes before any replay.)
          if (h.idempotencyKey?.valid && res.status < 300 && after > before && !keepsNoReplay(name) && (await request('GET', '/me', token)).status === 200) {
            const again = await fetch(`${app.url}${call.url}`, { method: method.toUpperCase(), headers, body: payload, redirect: 'manual' });
            await again.text();
            const replayed = (await app.runtime.services.database.pool.query<{ n: number }>(COUNTED)).rows[0]!.n;
            expect({ status: again.status, appended: replayed - after }, `${label}: the replay under the same Idempotency-Key`).toEqual({ status: res.status, appended: 0 });
          }
          // A success that took the world away (a deletion, a logout, a transfer) is rebuilt for the next call.
          if (res.status < 300 && method !== 'get') world = await stillStanding(world);
        }), { numRuns: RUNS, endOnFailure: true, seed: seedOf(name) });
      } catch (err) {
        // Every operation is walked; what failed is listed together at the end.
        // fast-check's own message is the counterexample; what broke is its cause.
        const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
        failures.push(`${name} (FUZZ_SEED=${SEED}): ${cause.slice(0, 2500)}`);
      }
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
    // The walk reached past the door: most operations answered something other than 401/403/404 at least once.
    const reached = [...seen.values()].filter((statuses) => [...statuses].some((s) => s < 400 || (s !== 401 && s !== 403 && s !== 404))).length;
    expect(reached / seen.size).toBeGreaterThan(0.6);
  });

  /**
   * The status whose schema judges a success. A caller that sent `Prefer: respond-async` may be
   * answered 202 (committed, read tables not yet caught up) where the contract lists only the
   * operation's success status; the body is that success's, so its schema judges it.
   */
  function contractStatus(name: string, operation: Json, status: number, prefer: string | null): number {
    const listed = Object.keys(contractOperations().find((o) => `${o.method} ${o.path}` === name)?.operation.responses ?? {});
    if (status !== 202 || listed.includes('202') || !prefer || !/(^|[,;\s])respond-async([,;\s]|$)/i.test(prefer)) return status;
    return Number(listed.find((s) => /^2\d\d$/.test(s)) ?? status);
  }

  /** Public as the contract says (isPublicOperation), or as the published document says for an extension (an empty security). */
  function publicOperation(name: string, operation: Json): boolean {
    const known = contractOperations().find((o) => `${o.method} ${o.path}` === name);
    return known ? isPublicOperation(known) : Array.isArray(operation.security) && operation.security.length === 0;
  }

  it('walks every operation the service serves: each is published or listed in hidden-operations.ts', () => {
    expect(unwalkedOperations(app, doc)).toEqual([]);
    // The route table was read: it holds the hidden routes the walk lists.
    expect(servedOperations(app)).toEqual(expect.arrayContaining(['GET /admin/projections', 'POST /admin/projections/{name}/dead-letters/{id}/skip', 'GET /console/{asset}']));
  });

  async function stillStanding(current: World): Promise<World> {
    const checks = await Promise.all([
      request('GET', `/threat_models/${current.tm}`, current.tokens.owner),
      ...KIND_SPECS.map((s) => request('GET', `/threat_models/${current.tm}/${s.plural}/${current.children[s.plural]}`, current.tokens.owner)),
      request('GET', `/threat_models/${current.tm}/metadata/seed`, current.tokens.owner),
      request('GET', '/me', current.tokens.client),
      request('GET', '/me', current.tokens.writer),
      request('GET', '/me', current.tokens.reader),
      request('GET', '/me', current.tokens.stranger),
    ]);
    return checks.every((c) => c.status === 200) ? current : build();
  }
});
