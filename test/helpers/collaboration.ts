import { v7 as uuidv7 } from 'uuid';
import { expect } from 'vitest';
import { principalFromClaims } from '../../src/auth/tokens.js';
import type { EventMetadata } from '../../src/events/types.js';
import type { DiagramTarget } from '../../src/realtime/writer.js';
import { json, type TestApp } from './app.js';
import { openSocket } from './socket.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';

/**
 * What the helpers need of a service instance: its URL, requests to it, and a token it accepts
 * for a user. A test app (in-process) is one; a service process of the fault tests is one too.
 */
export interface CollaborationInstance {
  url: string;
  request: TestApp['request'];
  token(name: string): string;
}

const instanceOf = (app: TestApp | CollaborationInstance): CollaborationInstance =>
  'runtime' in app ? { url: app.url, request: app.request, token: (name) => signIn(app, name).token } : app;

/** A node of the DFD's process shape, labelled. */
export const processNode = (id: string, text: string) => ({ id, shape: 'process', x: 10, y: 10, width: 80, height: 40, attrs: { text: { text } } });

/** A diagram_operation_request adding one process node, built on `base`. */
export const addNodeOperation = (base: number, id: string, text: string, operationId = uuidv7()) =>
  ({ message_type: 'diagram_operation_request', operation_id: operationId, base_vector: base, operation: { type: 'patch', cells: [{ id, operation: 'add', data: processNode(id, text) }] } });

/** A threat model the owner shares with a writer, a diagram on it, and a collaboration session both joined. */
export async function sessionOn(on: TestApp | CollaborationInstance, owner: Who, writer: Who) {
  const app = instanceOf(on);
  const req = (path: string, who: Who, init: RequestInit & { json?: unknown } = {}) => app.request(path, { ...init, token: who.token });
  const tm = (await json(await req('/threat_models', owner, { method: 'POST', json: { name: 'Instances', authorization: [userEntry(writer, 'writer')] } }))).id as string;
  const diagram = (await json(await req(`/threat_models/${tm}/diagrams`, owner, { method: 'POST', json: { name: 'Shared', type: 'DFD-1.0.0' } }))).id as string;
  const collaborate = `/threat_models/${tm}/diagrams/${diagram}/collaborate`;
  const sessionId = (await json(await req(collaborate, owner, { method: 'POST' }))).session_id as string;
  expect((await req(collaborate, writer, { method: 'POST' })).status).toBe(200);
  return { tm, diagram, collaborate, sessionId };
}

/** A socket of the user on that instance, past its first diagram_state. */
export async function connectTo(on: TestApp | CollaborationInstance, who: Who, s: Awaited<ReturnType<typeof sessionOn>>) {
  const app = instanceOf(on);
  // Each instance signs its own tokens (a test runtime has its own key): the same user, signed in there.
  const token = app.token(who.name);
  const answer = await app.request(`/ws/ticket?session_id=${s.sessionId}`, { token });
  expect(answer.status).toBe(200);
  const ticket = (await json(answer)).ticket as string;
  const socket = await openSocket(`${app.url.replace(/^http/, 'ws')}/threat_models/${s.tm}/diagrams/${s.diagram}/ws?session_id=${s.sessionId}&ticket=${ticket}`);
  await socket.next('diagram_state');
  return socket;
}


/** What a diagram writer is handed for one user's operations in the session, as the hub builds it from a socket. */
export function operatorOn(app: TestApp, who: Who, s: { tm: string; diagram: string; sessionId: string }) {
  const caller = principalFromClaims(app.runtime.services.tokens.verify(who.token));
  const target: DiagramTarget = { threat_model_id: s.tm, diagram_id: s.diagram, session_id: s.sessionId };
  const metadata: EventMetadata = { actor: { user_id: caller.user_id, email: caller.email, provider: caller.provider }, trace_id: null, correlation_id: s.sessionId, causation_id: null, request_id: null };
  return { caller, target, metadata };
}
