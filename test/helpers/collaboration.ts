import { expect } from 'vitest';
import { principalFromClaims } from '../../src/auth/tokens.js';
import type { EventMetadata } from '../../src/events/types.js';
import type { DiagramTarget } from '../../src/realtime/writer.js';
import { json, type TestApp } from './app.js';
import { openSocket } from './socket.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';

/** A threat model the owner shares with a writer, a diagram on it, and a collaboration session both joined. */
export async function sessionOn(app: TestApp, owner: Who, writer: Who) {
  const req = (path: string, who: Who, init: RequestInit & { json?: unknown } = {}) => app.request(path, { ...init, token: who.token });
  const tm = (await json(await req('/threat_models', owner, { method: 'POST', json: { name: 'Instances', authorization: [userEntry(writer, 'writer')] } }))).id as string;
  const diagram = (await json(await req(`/threat_models/${tm}/diagrams`, owner, { method: 'POST', json: { name: 'Shared', type: 'DFD-1.0.0' } }))).id as string;
  const collaborate = `/threat_models/${tm}/diagrams/${diagram}/collaborate`;
  const sessionId = (await json(await req(collaborate, owner, { method: 'POST' }))).session_id as string;
  expect((await req(collaborate, writer, { method: 'POST' })).status).toBe(200);
  return { tm, diagram, collaborate, sessionId };
}

/** A socket of the user on that instance, past its first diagram_state. */
export async function connectTo(app: TestApp, who: Who, s: Awaited<ReturnType<typeof sessionOn>>) {
  // Each instance signs its own tokens (a test runtime has its own key): the same user, signed in there.
  const token = signIn(app, who.name).token;
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
