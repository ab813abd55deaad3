// The operator console: plain DOM and fetch, no build step. Every value from the service is
// written with textContent, never as markup.
const CALLBACK = `${location.origin}/console/`;
const TOKEN_KEY = 'tmi-console-token';
const FLOW_KEY = 'tmi-console-flow';
const EVENT_ROWS_KEPT = 200;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let current = 'projections';
let timer = null;
const feed = { after: null, filters: {}, generation: 0 };

function show(text, kind = 'error') {
  const m = $('message');
  m.textContent = text;
  m.className = kind;
  m.hidden = !text;
}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } });
  if (res.status === 401) { signOut('Your session has ended: sign in again.'); throw new Error('signed out'); }
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : null;
  if (!res.ok) throw new Error(body?.error_description ?? `${path} answered ${res.status}`);
  return body;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tbodyId, rows) {
  $(tbodyId).replaceChildren(...rows);
}

function row(values) {
  const tr = document.createElement('tr');
  tr.append(...values.map((v) => (v instanceof Node ? wrap(v) : cell(v))));
  return tr;
}

function wrap(node) {
  const td = document.createElement('td');
  td.append(node);
  return td;
}

const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

async function signIn(idp) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(FLOW_KEY, JSON.stringify({ verifier, state, idp }));
  const q = new URLSearchParams({ idp, scope: 'openid profile email', state, client_callback: CALLBACK, code_challenge: challenge, code_challenge_method: 'S256' });
  const hint = $('login-hint').value.trim();
  if (hint) q.set('login_hint', hint);
  location.assign(`/oauth2/authorize?${q}`);
}

/** Back from the provider with a code: exchanged once, then removed from the address bar. */
async function finishSignIn(params) {
  const flow = JSON.parse(sessionStorage.getItem(FLOW_KEY) ?? 'null');
  sessionStorage.removeItem(FLOW_KEY);
  history.replaceState(null, '', CALLBACK);
  if (params.get('error')) throw new Error(`sign-in refused: ${params.get('error')}`);
  if (!flow || flow.state !== params.get('state')) throw new Error('sign-in answer does not match the request: sign in again');
  const res = await fetch(`/oauth2/token?idp=${encodeURIComponent(flow.idp)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'authorization_code', code: params.get('code'), code_verifier: flow.verifier, redirect_uri: CALLBACK }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error_description ?? 'sign-in failed');
  token = body.access_token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function signOut(text) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  for (const el of document.querySelectorAll('.view, #tabs, #sign-out')) el.hidden = true;
  $('who').textContent = '';
  void showSignIn();
  if (text) show(text, 'info');
}

async function showSignIn() {
  $('sign-in').hidden = false;
  const { providers } = await (await fetch('/oauth2/providers')).json();
  fill('providers', providers.map((p) => {
    const b = document.createElement('button');
    b.textContent = `Sign in with ${p.name}`;
    b.dataset.idp = p.id;
    b.addEventListener('click', () => void signIn(p.id).catch((e) => show(e.message)));
    return b;
  }));
}

async function start() {
  const me = await api('/me');
  if (!me.is_admin) {
    show(`${me.email ?? me.name} is not an administrator of this service.`);
    $('sign-out').hidden = false;
    return;
  }
  $('who').textContent = me.email ?? me.name;
  $('sign-out').hidden = false;
  $('tabs').hidden = false;
  open(current);
}

const VIEWS = { projections: refreshProjections, 'dead-letters': refreshDeadLetters, events: refreshEvents, sessions: refreshSessions, verify: async () => {} };
const POLL_MS = { projections: 3000, 'dead-letters': 5000, events: 2000, sessions: 5000 };

function open(view) {
  current = view;
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.view === view);
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${view}`;
  clearInterval(timer);
  // One refresh in flight at a time: a slow answer must not be overtaken by the next tick's.
  let running = false;
  const refresh = async () => {
    if (running) return;
    running = true;
    try {
      await VIEWS[view]();
    } catch (e) {
      if (e.message !== 'signed out') show(e.message);
    } finally {
      running = false;
    }
  };
  void refresh();
  if (POLL_MS[view]) timer = setInterval(refresh, POLL_MS[view]);
}

async function refreshProjections() {
  const [{ projections }, lag] = await Promise.all([api('/admin/projections'), api('/admin/projections/lag_history')]);
  fill('projections-rows', projections.map((p) => {
    const tr = row([p.name, p.version, p.position, p.lag_events, p.lag_seconds.toFixed(3), p.halted ? 'halted' : 'running', p.dead_letters]);
    tr.append(cell(p.last_error, 'error'));
    tr.dataset.projection = p.name;
    return tr;
  }));
  drawLag(lag.samples);
}

/** One line per projection, lag in seconds against time, scaled to the largest lag shown. */
function drawLag(samples) {
  const svg = $('lag-chart');
  const ns = 'http://www.w3.org/2000/svg';
  const [w, h, pad] = [800, 240, 30];
  const names = [...new Set(samples.flatMap((s) => s.projections.map((p) => p.name)))];
  const max = Math.max(1, ...samples.flatMap((s) => s.projections.map((p) => p.lag_seconds)));
  const x = (i) => pad + (samples.length < 2 ? 0 : (i * (w - 2 * pad)) / (samples.length - 1));
  const y = (v) => h - pad - (v / max) * (h - 2 * pad);
  const axis = document.createElementNS(ns, 'path');
  axis.setAttribute('d', `M${pad},${pad} V${h - pad} H${w - pad}`);
  axis.setAttribute('stroke', '#888');
  axis.setAttribute('fill', 'none');
  const label = document.createElementNS(ns, 'text');
  label.setAttribute('x', '2');
  label.setAttribute('y', String(pad - 8));
  label.setAttribute('font-size', '11');
  label.textContent = `${max.toFixed(2)} s`;
  const lines = names.map((name, k) => {
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', samples.map((s, i) => `${x(i)},${y(s.projections.find((p) => p.name === name)?.lag_seconds ?? 0)}`).join(' '));
    line.setAttribute('stroke', COLORS[k % COLORS.length]);
    line.setAttribute('fill', 'none');
    line.dataset.projection = name;
    return line;
  });
  svg.replaceChildren(axis, label, ...lines);
  fill('lag-legend', names.map((name, k) => {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.style.background = COLORS[k % COLORS.length];
    li.append(swatch, name);
    return li;
  }));
}

async function refreshDeadLetters() {
  const { dead_letters: letters } = await api(`/admin/projections/dead-letters?status=${$('dead-letter-status').value}`);
  fill('dead-letter-rows', letters.map((d) => {
    const actions = document.createElement('span');
    if (d.status === 'pending') {
      for (const verb of ['retry', 'skip']) {
        const b = document.createElement('button');
        b.textContent = verb === 'retry' ? 'Retry' : 'Skip';
        b.dataset.action = verb;
        b.addEventListener('click', () => void act(d, verb));
        actions.append(b);
      }
    }
    const tr = row([d.id, d.projection, d.event_position, d.event_type]);
    tr.append(cell(d.error, 'error'), cell(d.attempts), cell(d.status), wrap(actions));
    tr.dataset.deadLetter = String(d.id);
    return tr;
  }));
}

async function act(letter, verb) {
  try {
    const result = await api(`/admin/projections/${encodeURIComponent(letter.projection)}/dead-letters/${letter.id}/${verb}`, { method: 'POST' });
    show(result.ok === false ? `${verb} of dead letter ${letter.id} failed again: ${result.error ?? ''}` : `dead letter ${letter.id}: ${verb === 'retry' ? 'applied' : 'skipped'}`, result.ok === false ? 'error' : 'info');
  } catch (e) {
    show(e.message);
  }
  await refreshDeadLetters();
}

async function refreshEvents() {
  // Filters applied while this page was on its way make it stale: it is dropped, not shown.
  const generation = feed.generation;
  if (feed.after === null) feed.after = (await api('/admin/events/head')).recent_after;
  const q = new URLSearchParams({ after: String(feed.after), limit: '100' });
  for (const [k, v] of Object.entries(feed.filters)) if (v) q.set(k, v);
  const page = await api(`/extensions/history/events?${q}`);
  if (generation !== feed.generation) return;
  feed.after = page.next_after;
  const rows = page.events.reverse().map((e) => {
    const tr = row([e.position, e.created_at, e.type, e.stream_id, e.version, e.metadata?.actor?.email ?? e.metadata?.actor?.user_id ?? '']);
    tr.dataset.position = String(e.position);
    return tr;
  });
  const body = $('event-rows');
  body.prepend(...rows);
  while (body.children.length > EVENT_ROWS_KEPT) body.lastElementChild.remove();
}

async function refreshSessions() {
  const { sessions } = await api('/admin/collaboration_sessions');
  fill('session-rows', sessions.map((s) => row([s.threat_model_name, s.diagram_name, s.host?.email ?? s.host_user_id, s.presenter?.email ?? '', s.participants.map((p) => `${p.user?.email ?? p.user_id} (${p.permissions})`).join(', ')])));
}

async function verify() {
  // One check at a time from this page: it reads the whole store.
  $('verify-now').disabled = true;
  $('verify-result').textContent = 'verifying…';
  try {
    $('verify-result').textContent = JSON.stringify(await api('/admin/events/verify'), null, 2);
  } catch (e) {
    $('verify-result').textContent = e.message;
  } finally {
    $('verify-now').disabled = false;
  }
}

for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => open(b.dataset.view));
$('dead-letter-status').addEventListener('change', () => void refreshDeadLetters().catch((e) => show(e.message)));
$('verify-now').addEventListener('click', () => void verify());
$('sign-out').addEventListener('click', () => signOut());
$('event-filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  feed.filters = Object.fromEntries(new FormData(ev.target));
  feed.after = null;
  feed.generation++;
  $('event-rows').replaceChildren();
  void refreshEvents().catch((e) => show(e.message));
});

(async () => {
  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) await finishSignIn(params);
  if (token) await start();
  else await showSignIn();
})().catch((e) => { show(e.message); void showSignIn(); });
