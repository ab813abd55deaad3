import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventually } from '../helpers/eventually.js';
import { openSocket } from '../helpers/socket.js';
import { realtimeOf } from '../../src/realtime/index.js';
import { DiagramWriter } from '../../src/realtime/writer.js';
import { operatorOn } from '../helpers/collaboration.js';
import { threatModelEventCount, signIn, userEntry, type Who } from '../threat-models/helpers.js';

/**
 * The collaboration hub over real WebSockets, as TMI's web client speaks to it: tickets before
 * the upgrade, the diagram's state on connect, operations numbered by the diagram's stream,
 * readers refused, resends answered with their original number, conflicts on a stale base,
 * catch-up by the last sequence number, REST writes refused while a session is live.
 */
// With Redis (its feed, tickets and queues there) and in the embedded mode's shape: no Redis at all.
describe.each([{ mode: 'with Redis', redis: true }, { mode: 'without Redis', redis: false }])('the collaboration hub $mode', ({ redis }) => {
  let app: TestApp;
  let owner: Who, writer: Who, reader: Who, stranger: Who;
  beforeAll(async () => {
    app = await startTestApp({ redis, overrides: { server: { read_your_writes_timeout_ms: 15_000 }, realtime: { replay_max_events: 5, presence_per_second: 5, access_check_ms: 200, operations_per_second: 20, max_connections_per_user: 3, max_participants: 3, max_buffered_bytes: 65_536, host_grace_ms: 1000 }, limits: { websocket_max_message_bytes: 65_536 } } });
    owner = signIn(app, 'olga');
    writer = signIn(app, 'walt');
    reader = signIn(app, 'rita');
    stranger = signIn(app, 'sam');
  });
  afterAll(async () => { await app?.stop(); });

  const req = (path: string, who: Who, init: RequestInit & { json?: unknown } = {}) => app.request(path, { ...init, token: who.token });
  const hub = () => realtimeOf(app.runtime.services).hub;
  const wsBase = () => app.url.replace(/^http/, 'ws');

  /** A threat model with the writer and reader on it, a diagram, and a session everyone joined. */
  async function session() {
    const tm = (await json(await req('/threat_models', owner, { method: 'POST', json: { name: 'Hub', authorization: [userEntry(writer, 'writer'), userEntry(reader, 'reader')] } }))).id as string;
    const diagram = (await json(await req(`/threat_models/${tm}/diagrams`, owner, { method: 'POST', json: { name: 'Live', type: 'DFD-1.0.0' } }))).id as string;
    const collaborate = `/threat_models/${tm}/diagrams/${diagram}/collaborate`;
    const started = await json(await req(collaborate, owner, { method: 'POST' }));
    for (const who of [writer, reader]) expect((await req(collaborate, who, { method: 'POST' })).status).toBe(200);
    return { tm, diagram, collaborate, sessionId: started.session_id as string, socketPath: `/threat_models/${tm}/diagrams/${diagram}/ws` };
  }
  async function ticket(who: Who, sessionId: string) {
    const res = await req(`/ws/ticket?session_id=${sessionId}`, who);
    expect(res.status).toBe(200);
    return (await json(res)).ticket as string;
  }
  async function connect(who: Who, s: Awaited<ReturnType<typeof session>>) {
    const socket = await openSocket(`${wsBase()}${s.socketPath}?session_id=${s.sessionId}&ticket=${await ticket(who, s.sessionId)}`);
    const state = await socket.next('diagram_state');
    return { socket, state };
  }
  const node = (id: string, text = 'Node', x = 100) => ({ id, shape: 'process', x, y: 80, width: 120, height: 60, attrs: { text: { text } } });
  const operation = (base: number, cells: unknown[], operationId: string = uuidv7()) => ({ message_type: 'diagram_operation_request', operation_id: operationId, base_vector: base, operation: { type: 'patch', cells } });
  const sequenceOf = (m: Record<string, unknown>) => m.sequence_number as number;

  it('answers the upgrade only for a fresh ticket of the session\'s participant', async () => {
    const s = await session();
    const refused = async (url: string) => {
      const err = await openSocket(url).then((sock) => { void sock.close(); return null; }, (e: { status?: number; body?: string }) => e);
      expect(err, url).not.toBeNull();
      return err!;
    };
    const url = (t: string, sessionId = s.sessionId) => `${wsBase()}${s.socketPath}?session_id=${sessionId}&ticket=${t}`;
    const made = await refused(url('made-up-ticket'));
    expect(made.status).toBe(401);
    expect(JSON.parse(made.body!)).toMatchObject({ error: 'invalid_ticket', error_description: expect.any(String) });
    // A ticket is good once.
    const once = await ticket(writer, s.sessionId);
    const first = await openSocket(url(once));
    expect((await first.next('diagram_state')).update_vector).toBe(1);
    expect((await refused(url(once))).status).toBe(401);
    await first.close();
    // Presented for another session (or with none), it is refused and spent.
    const other = await session();
    const elsewhere = await ticket(owner, s.sessionId);
    expect((await refused(url(elsewhere, other.sessionId))).status).toBe(401);
    expect((await refused(url(elsewhere))).status).toBe(401);
    expect((await refused(`${wsBase()}${s.socketPath}?session_id=${s.sessionId}`)).status).toBe(400);
    // The diagram in the path must be the session's.
    expect((await refused(`${wsBase()}${other.socketPath}?session_id=${s.sessionId}&ticket=${await ticket(owner, s.sessionId)}`)).status).toBe(404);
    expect((await req(`/ws/ticket?session_id=${s.sessionId}`, stranger)).status).toBe(404);
  });

  it('numbers each writer\'s operation by the diagram\'s stream: gap-free, the same for everyone, shown by REST', async () => {
    const s = await session();
    const a = await connect(owner, s);
    const b = await connect(writer, s);
    expect(a.state).toMatchObject({ diagram_id: s.diagram, update_vector: 1, cells: [] });
    const participants = await b.socket.next('participants_update', (m) => (m.participants as unknown[]).length === 2);
    expect(participants).toMatchObject({ host: { provider_id: 'olga@tmi.local' }, current_presenter: { provider_id: 'olga@tmi.local' } });

    const [n1, n2, e] = [uuidv7(), uuidv7(), uuidv7()];
    a.socket.send(operation(1, [{ id: n1, operation: 'add', data: node(n1, 'Browser') }]));
    const first = await b.socket.next('diagram_operation_event');
    expect(first).toMatchObject({ sequence_number: 2, update_vector: 2, initiating_user: { provider_id: 'olga@tmi.local' }, operation: { type: 'patch', cells: [{ id: n1, operation: 'add', data: node(n1, 'Browser') }] } });
    b.socket.send(operation(2, [{ id: n2, operation: 'add', data: { id: n2, shape: 'store', position: { x: 400, y: 80 }, size: { width: 120, height: 60 } } }, { id: e, operation: 'add', data: { id: e, shape: 'flow', source: { cell: n1 }, target: { cell: n2 } } }]));
    const second = await a.socket.next('diagram_operation_event', (m) => m.sequence_number === 3);
    expect(second.operation).toMatchObject({ cells: [{ id: n2, data: { x: 400, y: 80 } }, { id: e, operation: 'add' }] });
    // The originator hears its own operation too, with its number.
    expect(sequenceOf(await b.socket.next('diagram_operation_event', (m) => m.sequence_number === 3))).toBe(3);

    const diagram = await eventually('the read table shows the cells', async () => {
      const got = await json(await req(`/threat_models/${s.tm}/diagrams/${s.diagram}`, reader));
      return got.update_vector === 3 ? got : null;
    });
    expect(diagram.cells.map((c: { id: string }) => c.id)).toEqual([n1, n2, e]);
    await a.socket.close();
    await b.socket.close();
  });

  it('commits operations that arrive together in one append: each its own number, actor and idempotency key', async () => {
    const s = await session();
    const a = await connect(owner, s);
    const b = await connect(writer, s);
    const ids = Array.from({ length: 8 }, () => uuidv7());
    const sent = ids.map((id) => operation(1, [{ id, operation: 'add', data: node(id) }]));
    // Back to back from two sockets, a resend right behind its original, and an id used again for other cells.
    sent.forEach((m, i) => (i % 2 === 0 ? a : b).socket.send(m));
    a.socket.send(sent[0]!);
    const reused = uuidv7();
    a.socket.send({ ...sent[2]!, operation: { type: 'patch', cells: [{ id: reused, operation: 'add', data: node(reused) }] } });
    a.socket.send({ message_type: 'sync_status_request' });
    await a.socket.next('sync_status_response');
    expect(await a.socket.next('operation_rejected', (m) => m.operation_id === sent[2]!.operation_id)).toMatchObject({ reason: 'validation_failed' });
    const heard = [];
    for (let n = 2; n <= 9; n++) heard.push(await b.socket.next('diagram_operation_event', (m) => m.sequence_number === n));
    expect(heard.map((m) => (m.operation as { cells: { id: string }[] }).cells[0]!.id).sort()).toEqual([...ids].sort());
    // The resend is answered with its original's number, after that number reached the socket.
    const first = heard.find((m) => m.operation_id === sent[0]!.operation_id)!;
    const answers = a.socket.all('diagram_operation_event').filter((m) => m.operation_id === sent[0]!.operation_id);
    expect(answers.map(sequenceOf)).toEqual([sequenceOf(first), sequenceOf(first)]);

    const { rows } = await app.runtime.services.database.pool.query<{ tx: string; version: number; command_id: string | null; actor: string }>(
      `select (position >> 16)::text as tx, version, metadata->>'command_id' as command_id, metadata->'actor'->>'email' as actor
       from events where stream_id = $1 and type = 'DiagramCellsPatched' order by version`, [`diagram-${s.diagram}`]);
    expect(rows.map((r) => r.version)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    // Fewer commits than operations: some went in together.
    expect(new Set(rows.map((r) => r.tx)).size).toBeLessThan(rows.length);
    expect(new Set(rows.map((r) => r.command_id)).size).toBe(8);
    expect(new Set(rows.map((r) => r.actor))).toEqual(new Set(['olga@tmi.local', 'walt@tmi.local']));
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/tmi_realtime_operation_batch_size_count \d+/);
    await a.socket.close();
    await b.socket.close();
  });

  it('denies readers, and a rejected operation takes no number', async () => {
    const s = await session();
    const r = await connect(reader, s);
    const w = await connect(writer, s);
    const before = await threatModelEventCount(app, s.tm);
    const id = uuidv7();
    r.socket.send(operation(1, [{ id, operation: 'add', data: node(id) }], id));
    expect(await r.socket.next('authorization_denied')).toEqual({ message_type: 'authorization_denied', original_operation_id: id, reason: 'read_only_user' });
    // An edge to nowhere, and an update of a cell that is not there.
    const edge = uuidv7();
    w.socket.send(operation(1, [{ id: edge, operation: 'add', data: { id: edge, shape: 'flow', source: { cell: uuidv7() }, target: { cell: uuidv7() } } }]));
    expect(await w.socket.next('operation_rejected')).toMatchObject({ reason: 'validation_failed', update_vector: 1, affected_cells: [edge], requires_resync: false });
    w.socket.send(operation(1, [{ id, operation: 'update', data: node(id) }]));
    expect(await w.socket.next('operation_rejected')).toMatchObject({ reason: 'validation_failed', affected_cells: [id], requires_resync: true });
    w.socket.send('{not json');
    expect(await w.socket.next('error')).toMatchObject({ error: 'invalid_message' });
    w.socket.send({ message_type: 'diagram_operation_request', operation_id: id, base_vector: -1, operation: { type: 'patch', cells: [] } });
    expect(await w.socket.next('operation_rejected', (m) => m.operation_id === id)).toMatchObject({ reason: 'validation_failed' });
    expect(await threatModelEventCount(app, s.tm)).toBe(before);
    // The next accepted operation gets the next number.
    w.socket.send(operation(1, [{ id, operation: 'add', data: node(id) }]));
    expect(sequenceOf(await r.socket.next('diagram_operation_event'))).toBe(2);
    expect(await threatModelEventCount(app, s.tm)).toBe(before + 1);
    await r.socket.close();
    await w.socket.close();
  });

  it('applies an operation id once: a resend, even on a new socket, gets the original number', async () => {
    const s = await session();
    const w = await connect(writer, s);
    const id = uuidv7();
    const op = operation(1, [{ id, operation: 'add', data: node(id) }]);
    w.socket.send(op);
    expect(sequenceOf(await w.socket.next('diagram_operation_event'))).toBe(2);
    const before = await threatModelEventCount(app, s.tm);
    await w.socket.close();
    const again = await connect(writer, s);
    again.socket.send(op);
    expect(await again.socket.next('diagram_operation_event')).toMatchObject({ sequence_number: 2, operation_id: op.operation_id });
    // The same id with other cells is not a resend.
    again.socket.send({ ...op, operation: { type: 'patch', cells: [{ id, operation: 'remove' }] } });
    expect(await again.socket.next('operation_rejected')).toMatchObject({ reason: 'validation_failed', operation_id: op.operation_id });
    expect(await threatModelEventCount(app, s.tm)).toBe(before);
    await again.socket.close();
  });

  it('refuses a stale change of what someone else changed, sending the state; merges moves', async () => {
    const s = await session();
    const a = await connect(owner, s);
    const b = await connect(writer, s);
    const id = uuidv7();
    a.socket.send(operation(1, [{ id, operation: 'add', data: node(id, 'API') }]));
    await b.socket.next('diagram_operation_event', (m) => m.sequence_number === 2);
    a.socket.send(operation(2, [{ id, operation: 'update', data: node(id, 'Gateway') }]));
    await b.socket.next('diagram_operation_event', (m) => m.sequence_number === 3);
    // b still at 2: relabelling conflicts, moving does not.
    b.socket.send(operation(2, [{ id, operation: 'update', data: node(id, 'Edge') }]));
    expect(await b.socket.next('operation_rejected')).toMatchObject({ reason: 'conflict_detected', affected_cells: [id], requires_resync: true, update_vector: 3 });
    expect(await b.socket.next('diagram_state', (m) => m.update_vector === 3)).toMatchObject({ cells: [node(id, 'Gateway')] });
    b.socket.send(operation(2, [{ id, operation: 'update', data: node(id, 'API', 500) }]));
    const moved = await a.socket.next('diagram_operation_event', (m) => m.sequence_number === 4);
    expect(moved.operation).toMatchObject({ cells: [{ id, operation: 'update', data: node(id, 'Gateway', 500) }] });
    await a.socket.close();
    await b.socket.close();
  });

  it('catches a client up by its last sequence number, or sends the state when it is too far behind', async () => {
    const s = await session();
    const w = await connect(writer, s);
    const ids = Array.from({ length: 8 }, () => uuidv7());
    for (const [n, id] of ids.entries()) {
      w.socket.send(operation(1 + n, [{ id, operation: 'add', data: node(id, `n${n}`) }]));
      await w.socket.next('diagram_operation_event', (m) => m.sequence_number === 2 + n);
    }
    const late = await connect(reader, s);
    expect(late.state.update_vector).toBe(9);
    late.socket.send({ message_type: 'sync_status_request' });
    expect(await late.socket.next('sync_status_response')).toEqual({ message_type: 'sync_status_response', update_vector: 9 });
    late.socket.send({ message_type: 'sync_request', update_vector: 9 });
    expect((await late.socket.next('sync_status_response')).update_vector).toBe(9);
    // Four behind: exactly the four it missed, in order.
    late.socket.send({ message_type: 'sync_request', update_vector: 5 });
    const replayed = [await late.socket.next('diagram_operation_event'), await late.socket.next('diagram_operation_event'), await late.socket.next('diagram_operation_event'), await late.socket.next('diagram_operation_event')];
    expect(replayed.map(sequenceOf)).toEqual([6, 7, 8, 9]);
    expect(replayed.map((m) => (m.operation as { cells: { id: string }[] }).cells[0]!.id)).toEqual(ids.slice(4));
    // Beyond the replay limit (5 here): the state.
    late.socket.send({ message_type: 'sync_request', update_vector: 1 });
    expect(await late.socket.next('diagram_state', (m) => m.update_vector === 9)).toMatchObject({ cells: expect.arrayContaining([expect.objectContaining({ id: ids[0] })]) });
    expect(late.socket.all('diagram_operation_event')).toHaveLength(4);
    await late.socket.close();
    await w.socket.close();
  });

  it('numbers concurrent writers gap-free, and every socket hears every operation once, in order', async () => {
    const s = await session();
    const a = await connect(owner, s);
    const b = await connect(writer, s);
    const r = await connect(reader, s);
    const each = 15;
    for (let n = 0; n < each; n++) {
      const [x, y] = [uuidv7(), uuidv7()];
      a.socket.send(operation(1, [{ id: x, operation: 'add', data: node(x, `a${n}`) }]));
      b.socket.send(operation(1, [{ id: y, operation: 'add', data: node(y, `b${n}`) }]));
    }
    const last = 1 + 2 * each;
    for (const sock of [a.socket, b.socket, r.socket]) {
      await sock.next('diagram_operation_event', (m) => m.sequence_number === last, 20_000);
      expect(sock.all('diagram_operation_event').map(sequenceOf)).toEqual(Array.from({ length: 2 * each }, (_, i) => i + 2));
    }
    for (const sock of [a.socket, b.socket, r.socket]) await sock.close();
  });

  it('undoes and redoes each writer\'s own steps as new operations, with the same conflict rules', async () => {
    const s = await session();
    const a = await connect(writer, s);
    const o = await connect(owner, s);
    const r = await connect(reader, s);
    const id = uuidv7();
    const cellsOf = (m: Record<string, unknown>) => (m.operation as { cells: { id: string; operation: string; data?: { x: number } }[] }).cells;
    a.socket.send(operation(1, [{ id, operation: 'add', data: node(id, 'API', 100) }]));
    await o.socket.next('diagram_operation_event', (m) => m.sequence_number === 2);
    a.socket.send(operation(2, [{ id, operation: 'update', data: node(id, 'API', 300) }]));
    await o.socket.next('diagram_operation_event', (m) => m.sequence_number === 3);

    a.socket.send({ message_type: 'undo_request' });
    const undoMove = await o.socket.next('diagram_operation_event', (m) => m.sequence_number === 4);
    expect(cellsOf(undoMove)).toEqual([{ id, operation: 'update', data: node(id, 'API', 100) }]);
    a.socket.send({ message_type: 'undo_request' });
    expect(cellsOf(await o.socket.next('diagram_operation_event', (m) => m.sequence_number === 5))).toEqual([{ id, operation: 'remove' }]);
    a.socket.send({ message_type: 'undo_request' });
    expect(await a.socket.next('history_operation')).toEqual({ message_type: 'history_operation', operation_type: 'undo', message: 'no_operations_to_undo' });
    // The owner has done nothing: nothing of the writer's is theirs to undo.
    o.socket.send({ message_type: 'undo_request' });
    expect((await o.socket.next('history_operation')).operation_type).toBe('undo');

    a.socket.send({ message_type: 'redo_request' });
    expect(cellsOf(await o.socket.next('diagram_operation_event', (m) => m.sequence_number === 6))).toEqual([{ id, operation: 'add', data: node(id, 'API', 100) }]);
    a.socket.send({ message_type: 'redo_request' });
    expect(cellsOf(await o.socket.next('diagram_operation_event', (m) => m.sequence_number === 7))[0]!.data).toMatchObject({ x: 300 });
    a.socket.send({ message_type: 'redo_request' });
    expect((await a.socket.next('history_operation')).message).toBe('no_operations_to_redo');

    // Someone else relabels the node: undoing the move is still fine (geometry), undoing the add would delete their work.
    o.socket.send(operation(7, [{ id, operation: 'update', data: node(id, 'Gateway', 300) }]));
    await a.socket.next('diagram_operation_event', (m) => m.sequence_number === 8);
    a.socket.send({ message_type: 'undo_request' });
    expect(cellsOf(await o.socket.next('diagram_operation_event', (m) => m.sequence_number === 9))[0]!.data).toMatchObject({ x: 100, attrs: { text: { text: 'Gateway' } } });
    a.socket.send({ message_type: 'undo_request' });
    expect(await a.socket.next('operation_rejected')).toMatchObject({ reason: 'conflict_detected', affected_cells: [id], requires_resync: true });
    r.socket.send({ message_type: 'undo_request' });
    expect((await r.socket.next('authorization_denied')).reason).toBe('read_only_user');
    for (const sock of [a.socket, o.socket, r.socket]) await sock.close();
  });

  it('runs presenter mode through the host, relaying only the presenter\'s cursor and selection, throttled', async () => {
    const s = await session();
    const host = await connect(owner, s);
    const w = await connect(writer, s);
    const r = await connect(reader, s);
    const walt = { principal_type: 'user', provider: 'tmi', provider_id: 'walt@tmi.local', email: 'walt@tmi.local', display_name: 'Walt' };
    const rita = { ...walt, provider_id: 'rita@tmi.local', email: 'rita@tmi.local', display_name: 'Rita' };
    w.socket.send({ message_type: 'presenter_request' });
    expect(await host.socket.next('presenter_request_event')).toMatchObject({ requesting_user: { provider_id: 'walt@tmi.local' } });
    w.socket.send({ message_type: 'change_presenter_request', new_presenter: walt });
    expect((await w.socket.next('error')).error).toBe('not_host');
    host.socket.send({ message_type: 'change_presenter_request', new_presenter: walt });
    expect(await r.socket.next('participants_update', (m) => (m.current_presenter as { provider_id?: string } | null)?.provider_id === 'walt@tmi.local')).toMatchObject({ host: { provider_id: 'olga@tmi.local' } });

    const cell = uuidv7();
    w.socket.send({ message_type: 'presenter_selection', selected_cells: [cell] });
    expect(await r.socket.next('presenter_selection')).toEqual({ message_type: 'presenter_selection', selected_cells: [cell] });
    host.socket.send({ message_type: 'presenter_cursor', cursor_position: { x: 1, y: 2 } });
    expect((await host.socket.next('error')).error).toBe('not_presenter');
    for (let n = 0; n < 40; n++) w.socket.send({ message_type: 'presenter_cursor', cursor_position: { x: n, y: n } });
    await r.socket.next('presenter_cursor');
    w.socket.send({ message_type: 'sync_status_request' });
    await w.socket.next('sync_status_response');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Five a second (this app's limit): forty sent at once are at most two seconds' worth.
    const relayed = r.socket.all('presenter_cursor').length;
    expect(relayed).toBeGreaterThanOrEqual(1);
    expect(relayed).toBeLessThanOrEqual(10);
    expect(w.socket.all('presenter_cursor')).toHaveLength(0);

    r.socket.send({ message_type: 'presenter_request' });
    await host.socket.next('presenter_request_event', (m) => (m.requesting_user as { provider_id: string }).provider_id === 'rita@tmi.local');
    host.socket.send({ message_type: 'presenter_denied_request', denied_user: rita });
    expect(await r.socket.next('presenter_denied_event')).toMatchObject({ denied_user: { provider_id: 'rita@tmi.local' } });
    for (const sock of [w.socket, r.socket, host.socket]) await sock.close();
  });

  it('lets the host remove a participant for good, and ends the session when the host leaves', async () => {
    const s = await session();
    const host = await connect(owner, s);
    const w = await connect(writer, s);
    const r = await connect(reader, s);
    const rita = { principal_type: 'user', provider: 'tmi', provider_id: 'rita@tmi.local', email: 'rita@tmi.local', display_name: 'Rita' };
    w.socket.send({ message_type: 'remove_participant_request', removed_user: rita });
    expect((await w.socket.next('error')).error).toBe('not_host');
    host.socket.send({ message_type: 'remove_participant_request', removed_user: rita });
    expect((await r.socket.next('error')).error).toBe('removed_from_session');
    expect((await r.socket.closed).code).toBe(4003);
    const remaining = await w.socket.next('participants_update', (m) => (m.participants as unknown[]).length === 2);
    expect((remaining.participants as { user: { provider_id: string } }[]).map((p) => p.user.provider_id).sort()).toEqual(['olga@tmi.local', 'walt@tmi.local']);
    expect((await req(s.collaborate, reader, { method: 'POST' })).status).toBe(403);
    // The socket may be closed by the access check (from the session's stream) before the sessions
    // table shows the removal; the ticket route reads the table, so it follows within moments.
    await eventually('the removed user gets no ticket', async () => ((await req(`/ws/ticket?session_id=${s.sessionId}`, reader)).status === 404 ? true : null));

    // A reload: the host's socket closes and a new one joins within the grace; the session goes on.
    await host.socket.close();
    const back = await connect(owner, s);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await req(s.collaborate, writer)).status).toBe(200);
    expect(w.socket.all('error').filter((m) => m.error === 'session_ended')).toHaveLength(0);
    // Gone for good: the grace runs out and the session ends for everyone.
    await back.socket.close();
    expect((await w.socket.next('error')).error).toBe('session_ended');
    expect((await w.socket.closed).code).toBe(4000);
    await eventually('the session is over', async () => (await req(s.collaborate, writer)).status === 404);
  });

  it('closes a socket whose token is revoked (4401) or whose user loses access (4403), and follows a role change', async () => {
    const s = await session();
    // Someone of their own, whose sign-out revokes no other test's token.
    const leaver = signIn(app, 'wade');
    const patchAuthorization = async (change: (list: { provider_id: string; role: string }[]) => unknown[]) => {
      const tm = await json(await req(`/threat_models/${s.tm}`, owner));
      const res = await req(`/threat_models/${s.tm}`, owner, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'replace', path: '/authorization', value: change(tm.authorization) }]) });
      expect(res.status).toBe(200);
    };
    await patchAuthorization((list) => [...list, userEntry(leaver, 'writer')]);
    expect((await req(s.collaborate, leaver, { method: 'POST' })).status).toBe(200);
    const host = await connect(owner, s);
    const r = await connect(reader, s);
    const w = await connect(leaver, s);
    // The reader becomes a writer: its next operation is accepted without reconnecting.
    await patchAuthorization((list) => list.map((a) => (a.provider_id === 'rita@tmi.local' ? { ...a, role: 'writer' } : a)));
    await host.socket.next('participants_update', (m) => (m.participants as { user: { provider_id: string }; permissions: string }[]).some((p) => p.user.provider_id === 'rita@tmi.local' && p.permissions === 'writer'));
    const id = uuidv7();
    r.socket.send(operation(1, [{ id, operation: 'add', data: node(id) }]));
    expect(sequenceOf(await host.socket.next('diagram_operation_event'))).toBe(2);
    // Then loses access altogether.
    await patchAuthorization((list) => list.filter((a) => a.provider_id !== 'rita@tmi.local'));
    expect((await r.socket.closed).code).toBe(4403);
    // The other signs out: the token its ticket was bought with is revoked.
    expect((await req('/me/logout', leaver, { method: 'POST' })).status).toBeLessThan(300);
    expect((await w.socket.closed).code).toBe(4401);
    await host.socket.close();
  });

  it('holds its limits: message size (1009), operations a second, sockets per user, users per session; and counts in /metrics', async () => {
    const s = await session();
    const w = await connect(writer, s);
    w.socket.send('x'.repeat(70_000));
    expect((await w.socket.closed).code).toBe(1009);

    const burst = await connect(writer, s);
    for (let n = 0; n < 30; n++) { const id = uuidv7(); burst.socket.send(operation(1 + n, [{ id, operation: 'add', data: node(id) }])); }
    await burst.socket.next('error', (m) => m.error === 'rate_limited');
    burst.socket.send({ message_type: 'sync_status_request' });
    await burst.socket.next('sync_status_response', () => true, 15_000);
    const applied = burst.socket.all('diagram_operation_event').length + burst.socket.all('operation_rejected').length;
    const limited = burst.socket.all('error').filter((m) => m.error === 'rate_limited').length;
    expect(applied + limited).toBe(30);
    expect(limited).toBeGreaterThan(0);

    // Three sockets per user here: a fourth is refused before the upgrade.
    const more = [await connect(writer, s), await connect(writer, s)];
    const fourth = await openSocket(`${wsBase()}${s.socketPath}?session_id=${s.sessionId}&ticket=${await ticket(writer, s.sessionId)}`).then(() => null, (e: { status?: number; body?: string }) => e);
    expect(fourth?.status).toBe(429);
    expect(JSON.parse(fourth!.body!)).toMatchObject({ error: 'rate_limited' });
    // Three users per session here: the owner and the reader fill it, a fourth user is refused.
    const o = await connect(owner, s);
    const r = await connect(reader, s);
    const extra = signIn(app, 'xena');
    const tm = await json(await req(`/threat_models/${s.tm}`, owner));
    expect((await req(`/threat_models/${s.tm}`, owner, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'replace', path: '/authorization', value: [...tm.authorization, userEntry(extra, 'reader')] }]) })).status).toBe(200);
    expect((await req(s.collaborate, extra, { method: 'POST' })).status).toBe(200);
    const refused = await openSocket(`${wsBase()}${s.socketPath}?session_id=${s.sessionId}&ticket=${await ticket(extra, s.sessionId)}`).then(() => null, (e: { status?: number }) => e);
    expect(refused?.status).toBe(429);

    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/tmi_realtime_operations_total\{outcome="accepted"\} [1-9]/);
    expect(metrics).toMatch(/tmi_realtime_operations_total\{outcome="rate_limited"\} [1-9]/);
    expect(metrics).toMatch(/tmi_realtime_connections [1-9]/);
    expect(metrics).toMatch(/tmi_realtime_fanout_seconds_count [1-9]/);
    for (const sock of [burst.socket, ...more.map((m) => m.socket), r.socket, o.socket]) await sock.close();
  });

  it('snapshots a long diagram stream, so an operation does not fold it whole, and refuses a base too far back', { timeout: 90_000 }, async () => {
    const s = await session();
    const o = await connect(owner, s);
    const w = await connect(writer, s);
    // The owner's one operation, soon further back than the writer's window.
    const early = uuidv7();
    o.socket.send(operation(1, [{ id: early, operation: 'add', data: node(early, 'early', 0) }]));
    await w.socket.next('diagram_operation_event', (m) => m.sequence_number === 2);
    const id = uuidv7();
    w.socket.send(operation(2, [{ id, operation: 'add', data: node(id, 'moving', 0) }]));
    await w.socket.next('diagram_operation_event', (m) => m.sequence_number === 3);
    // Moves within the per-second limit: 260 of them, each waiting for the one before.
    const moves = 260;
    for (let n = 1; n <= moves; n++) {
      w.socket.send(operation(2 + n, [{ id, operation: 'update', data: node(id, 'moving', n) }]));
      await w.socket.next('diagram_operation_event', (m) => m.sequence_number === 3 + n);
      if (n % 18 === 0) await new Promise((r) => setTimeout(r, 1000));
    }
    const head = 3 + moves;
    // Undoing a step beyond the window is out of reach: history_operation, and nothing changes.
    o.socket.send({ message_type: 'undo_request' });
    expect(await o.socket.next('history_operation')).toMatchObject({ operation_type: 'undo', message: 'no_operations_to_undo' });
    // The host stays connected to the end: its leaving would end the session after this app's short grace (1 s).
    const { pool } = app.runtime.services.database;
    const snapshot = await eventually('the snapshot is written', async () => {
      const { rows } = await pool.query<{ version: number }>('select version from snapshots where stream_id = $1 order by version desc limit 1', [`diagram-${s.diagram}`]);
      return rows[0] ?? null;
    });
    expect(snapshot.version).toBeGreaterThanOrEqual(200);
    // Built on a base more than the writer's window (256) behind: refused with a resync, not decided by scanning the stream.
    const stale = operation(2, [{ id, operation: 'update', data: node(id, 'stale', 5) }]);
    w.socket.send(stale);
    expect(await w.socket.next('operation_rejected')).toMatchObject({ operation_id: stale.operation_id, reason: 'conflict_detected', affected_cells: [id], requires_resync: true });
    expect(await w.socket.next('diagram_state')).toMatchObject({ update_vector: head });
    // A new writer (another instance's, say: it holds nothing yet) loads from the snapshot: it does not fold the stream whole.
    const fresh = new DiagramWriter(app.runtime.services, s.tm, s.diagram);
    const { caller, target, metadata } = operatorOn(app, writer, s);
    expect((await fresh.operate(caller, target, { operation_id: uuidv7(), base_vector: head, cells: [{ id, operation: 'update', data: node(id, 'moving', 999) }] }, metadata)).sequence_number).toBe(head + 1);
    expect(fresh.stats.loads).toBe(1);
    expect(fresh.stats.eventsFolded).toBeLessThan(100);
    const again = await connect(reader, s);
    expect(again.state).toMatchObject({ update_vector: head + 1, cells: [node(early, 'early', 0), node(id, 'moving', 999)] });
    for (const sock of [again.socket, w.socket, o.socket]) await sock.close();
  });

  it('closes a socket that stops reading (1013) without holding up the others', { timeout: 60_000 }, async () => {
    const tm = (await json(await req('/threat_models', owner, { method: 'POST', json: { name: 'Slow', authorization: [userEntry(writer, 'writer'), userEntry(reader, 'reader')] } }))).id as string;
    const d = (await json(await req(`/threat_models/${tm}/diagrams`, owner, { method: 'POST', json: { name: 'Big', type: 'DFD-1.0.0' } }))).id as string;
    // A diagram whose state is a few hundred kilobytes, written before the session.
    const cells = Array.from({ length: 2000 }, () => node(uuidv7(), 'x'.repeat(100)));
    expect((await req(`/threat_models/${tm}/diagrams/${d}`, owner, { method: 'PUT', json: { name: 'Big', type: 'DFD-1.0.0', cells } })).status).toBe(200);
    const collaborate = `/threat_models/${tm}/diagrams/${d}/collaborate`;
    const started = await json(await req(collaborate, owner, { method: 'POST' }));
    for (const who of [writer, reader]) expect((await req(collaborate, who, { method: 'POST' })).status).toBe(200);
    const s = { tm, diagram: d, collaborate, sessionId: started.session_id as string, socketPath: `/threat_models/${tm}/diagrams/${d}/ws` };
    const slow = await connect(reader, s);
    const w = await connect(writer, s);
    slow.socket.pause();
    // Each asks for the whole state again, which the reader does not read.
    for (let n = 0; n < 60; n++) slow.socket.send({ message_type: 'sync_request' });
    const closed = await eventually('the slow consumer is closed', async () =>
      /tmi_realtime_closes_total\{reason="slow_consumer"\} [1-9]/.test(await (await app.request('/metrics')).text()));
    expect(closed).toBe(true);
    const id = uuidv7();
    w.socket.send(operation(1, [{ id, operation: 'add', data: node(id) }]));
    expect(sequenceOf(await w.socket.next('diagram_operation_event', () => true, 5_000))).toBe(3);
    slow.socket.resume();
    expect((await slow.socket.closed).code).toBe(1013);
    await w.socket.close();
  });

  it('refuses REST writes to the diagram while its session is live, and closes the sockets when it ends', async () => {
    const s = await session();
    const w = await connect(writer, s);
    const item = `/threat_models/${s.tm}/diagrams/${s.diagram}`;
    const before = await threatModelEventCount(app, s.tm);
    for (const [method, body] of [['PUT', { name: 'x', type: 'DFD-1.0.0', cells: [] }], ['PATCH', [{ op: 'replace', path: '/name', value: 'x' }]]] as const) {
      const res = await req(item, writer, { method, headers: { 'content-type': method === 'PATCH' ? 'application/json-patch+json' : 'application/json' }, body: JSON.stringify(body) });
      expect(res.status, method).toBe(409);
      expect(await json(res)).toMatchObject({ error: expect.any(String), error_description: expect.stringContaining('collaboration session') });
    }
    expect((await req(`${item}/metadata`, writer, { method: 'POST', json: { key: 'k', value: 'v' } })).status).toBe(409);
    expect((await req(item, owner, { method: 'DELETE' })).status).toBe(409);
    expect(await threatModelEventCount(app, s.tm)).toBe(before);

    expect((await req(s.collaborate, owner, { method: 'DELETE' })).status).toBe(204);
    expect((await w.socket.closed).code).toBe(4000);
    expect((await req(item, writer, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'replace', path: '/name', value: 'After' }]) })).status).toBe(200);

    // A new session continues the diagram's numbering.
    const again = await json(await req(s.collaborate, writer, { method: 'POST' }));
    const socket = await openSocket(`${wsBase()}${s.socketPath}?session_id=${again.session_id}&ticket=${await ticket(writer, again.session_id)}`);
    expect((await socket.next('diagram_state')).update_vector).toBe(2);
    await socket.close();
  });
  it('refuses the upgrade to a user removed from the session on its stream, before the sessions table shows it', async () => {
    const s = await session();
    const host = await connect(owner, s);
    const { pool } = app.database;
    // The sessions projection held back (as under load): the table still lists the reader as a participant.
    const blocker = await pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table session_participants in exclusive mode');
      host.socket.send({ message_type: 'remove_participant_request', removed_user: { provider: 'tmi', provider_id: 'rita@tmi.local' } });
      await eventually('the removal is on the session\'s stream', async () =>
        (await app.runtime.services.store.readStream(`collaboration-${s.diagram}`)).some((e) => e.type === 'CollaborationParticipantRemoved'));
      // The ticket route reads the table, so a ticket is still had; the upgrade reads the stream and refuses it.
      const refused = await openSocket(`${wsBase()}${s.socketPath}?session_id=${s.sessionId}&ticket=${await ticket(reader, s.sessionId)}`).then((sock) => { void sock.close(); return null; }, (e: { status?: number; body?: string }) => e);
      expect(refused?.status).toBe(403);
      expect(JSON.parse(refused!.body!)).toMatchObject({ error: 'forbidden', error_description: expect.any(String) });
    } finally {
      await blocker.query('rollback');
      blocker.release();
    }
    await host.socket.close();
  });

  it('hands no operation queued behind a socket\'s close to a writer: none is left on a diagram without a room', async () => {
    const s = await session();
    const host = await connect(owner, s);
    const w = await connect(writer, s);
    await host.socket.next('participants_update', (m) => (m.participants as unknown[]).length === 2);
    const { pool } = app.database;
    // Appends wait (reads do not) until the socket's close was handled: the first operation's commit cannot finish before it.
    const blocker = await pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table events in exclusive mode');
      const first = uuidv7();
      w.socket.send(operation(1, [{ id: first, operation: 'add', data: node(first) }]));
      // Answered after the first operation's commit: what follows waits behind it, and the close overtakes them.
      w.socket.send({ message_type: 'sync_status_request' });
      for (let n = 0; n < 5; n++) { const id = uuidv7(); w.socket.send(operation(1, [{ id, operation: 'add', data: node(id) }])); }
      await w.socket.close();
      // The host hears the writer leave: the server handled the close while the five were still queued.
      await host.socket.next('participants_update', (m) => (m.participants as unknown[]).length === 1, 30_000);
    } finally {
      await blocker.query('rollback');
      blocker.release();
    }
    await host.socket.close();
    await eventually('the diagram\'s writer goes with its room', () => hub().writerStats(s.diagram) === undefined);
    // The first operation committed; nothing queued behind the close was handed over, nor made a new writer.
    const stream = `diagram-${s.diagram}`;
    expect(await app.runtime.services.store.streamVersion(stream)).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hub().writerStats(s.diagram)).toBeUndefined();
    expect(await app.runtime.services.store.streamVersion(stream)).toBe(2);
  });

  it('keeps its writer\'s state current from what the access check reads: an access change costs no lost race', async () => {
    const s = await session();
    const host = await connect(owner, s);
    const w = await connect(writer, s);
    const r = await connect(reader, s);
    const first = uuidv7();
    w.socket.send(operation(1, [{ id: first, operation: 'add', data: node(first) }]));
    await host.socket.next('diagram_operation_event', (m) => m.sequence_number === 2);
    const tm = await json(await req(`/threat_models/${s.tm}`, owner));
    expect((await req(`/threat_models/${s.tm}`, owner, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/authorization', value: tm.authorization.map((a: { provider_id: string }) => (a.provider_id === 'rita@tmi.local' ? { ...a, role: 'writer' } : a)) }]) })).status).toBe(200);
    // The access check saw the change (the reader now edits): the writer heard the threat model's new version with it.
    await host.socket.next('participants_update', (m) => (m.participants as { user: { provider_id: string }; permissions: string }[]).some((p) => p.user.provider_id === 'rita@tmi.local' && p.permissions === 'writer'));
    const second = uuidv7();
    w.socket.send(operation(2, [{ id: second, operation: 'add', data: node(second) }]));
    await host.socket.next('diagram_operation_event', (m) => m.sequence_number === 3);
    expect(hub().writerStats(s.diagram)).toMatchObject({ loads: 1, racesLost: 0, threatModelReloads: 1 });
    for (const sock of [w.socket, r.socket, host.socket]) await sock.close();
  });
});
