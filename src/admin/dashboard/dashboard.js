/* global document, location, fetch, EventSource, URLSearchParams, setTimeout, clearTimeout, setInterval */
/**
 * Pinhole's admin dashboard: plain DOM, no framework, no build step. Live state (summary counters
 * and calls) comes from the /api/events stream once a second; registrations are fetched one page at
 * a time, so the page stays light however many phones are registered; records and the per-minute
 * history are fetched when they can have changed. Everything a phone sent (AoR, contact, user
 * agent) is untrusted and reaches the DOM only as text.
 */

const PAGE_SIZE = 50;
const RECORDS_SHOWN = 20;
const HISTORY_REFRESH_MS = 60_000;
/** Verdicts and expiries change without the binding count changing. */
const REGISTRATIONS_REFRESH_MS = 5_000;
const SEARCH_DEBOUNCE_MS = 250;
const ERROR_SHOWN_MS = 10_000;
/** Snapshots come every second; missing three means the stream is stuck. */
const STALE_AFTER_MS = 3_000;
const RECONNECT_MS = 5_000;
const SVG_NS = 'http://www.w3.org/2000/svg';

/** `#token=...` keeps the bearer token out of server logs and Referer headers. */
const token = new URLSearchParams(location.hash.slice(1)).get('token');

const byId = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Helpers

function request(path, method) {
  return fetch(path, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

async function api(path, method = 'GET') {
  const response = await request(path, method);
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}`);
  return response.json();
}

let errorTimer;
function showError(error) {
  const banner = byId('error');
  banner.textContent = error instanceof Error ? error.message : String(error);
  banner.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (banner.hidden = true), ERROR_SHOWN_MS);
}

/** Runs an async action, showing its failure instead of leaving an unhandled rejection. */
function attempt(action) {
  action().catch(showError);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function cell(row, className, text) {
  return row.appendChild(element('td', className, text));
}

function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

const numberFormat = new Intl.NumberFormat('en-US');
const formatCount = (n) => numberFormat.format(n);

/** 0:07, 12:34, 1:02:03. */
function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** 45 s, 12 min, 3 h 5 min, 2 d 4 h: for uptime, where seconds stop mattering. */
function formatSpan(ms) {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.max(0, Math.floor(ms / 1000))} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function formatClock(time) {
  return new Date(time).toLocaleTimeString('en-GB', { hour12: false });
}

const NAT_MEANINGS = {
  none: 'no sign of NAT',
  nat: 'behind NAT (seen in SIP)',
  cgnat: 'behind a carrier-grade NAT (100.64.0.0/10)',
  cone: 'behind NAT that kept the RTP port (cone)',
  symmetric: 'behind NAT that changed the RTP port (symmetric)',
};

/** The verdict as a badge; hovering tells what it means and, for bindings, the evidence. */
function natBadge(nat, reasons = []) {
  const badge = element('span', `badge nat-${nat}`, nat);
  badge.dataset.nat = nat;
  badge.title = [NAT_MEANINGS[nat] ?? nat, ...reasons].join('\n');
  return badge;
}

/**
 * Brings `tbody` to one row per item, in order, reusing the row of an item seen before (found by
 * `key`) so that a button under the mouse survives a refresh. Returns the keys that went away.
 */
function syncRows(tbody, rows, items, key, create, update) {
  const wanted = new Set();
  items.forEach((item, index) => {
    const id = key(item);
    wanted.add(id);
    let row = rows.get(id);
    if (!row) {
      row = create(item);
      rows.set(id, row);
    }
    update(row, item);
    if (tbody.children[index] !== row) tbody.insertBefore(row, tbody.children[index] ?? null);
  });
  const gone = [];
  for (const [id, row] of rows) {
    if (wanted.has(id)) continue;
    row.remove();
    rows.delete(id);
    gone.push(id);
  }
  tbody.parentElement.querySelector('tbody.empty').hidden = items.length > 0;
  return gone;
}

// ---------------------------------------------------------------------------------------------
// Summary header

let startedAt = null;
let countersSeen = '';

function renderSummary(summary) {
  startedAt = summary.startedAt;
  byId('version').textContent = `v${summary.version}`;
  byId('listening').textContent = summary.sip.listening.join('  ');
  byId('draining').hidden = !summary.draining;

  const link = byId('softphone-link');
  link.hidden = !summary.softphoneUrl;
  if (summary.softphoneUrl) link.href = summary.softphoneUrl;

  const pills = summary.rtpengine.map(({ endpoint, healthy }) => {
    const pill = element('span', `pill ${healthy ? 'up' : 'down'}`, `rtpengine ${endpoint}`);
    pill.title = healthy ? 'answering' : 'not answering';
    pill.dataset.healthy = String(healthy);
    return pill;
  });
  byId('rtpengine').replaceChildren(...pills);

  const { registrations, calls, sip } = summary;
  const counters = {
    bindings: registrations.bindings,
    aors: registrations.aors,
    natted: registrations.natted,
    active: calls.active,
    started: calls.started,
    answered: calls.answered,
    failed: calls.failed,
    refused: calls.refused,
    transactions: sip.transactions,
    dialogs: sip.dialogs,
  };
  for (const [name, value] of Object.entries(counters)) {
    document.querySelector(`[data-counter="${name}"]`).textContent = formatCount(value);
  }
  document.querySelector('[data-counter="bindings"]').parentElement.title = Object.entries(
    registrations.byTransport,
  )
    .map(([transport, n]) => `${transport}: ${n}`)
    .join('\n');

  // Records, history and registrations change only when these do: fetch them then, not every second.
  const seen = [calls.active, calls.started, calls.failed, calls.refused, registrations.bindings].join('/');
  if (seen !== countersSeen) {
    countersSeen = seen;
    attempt(loadRecords);
    attempt(loadHistory);
    attempt(loadRegistrations);
  }
}

// ---------------------------------------------------------------------------------------------
// Live calls

const callRows = new Map();

/** Where a leg's SIP goes or comes from, with its transport set apart. */
function legNodes(leg) {
  return [
    element('span', 'leg', leg.address ?? leg.target ?? '?'),
    element('span', 'transport', leg.transport),
  ];
}

function createCallRow(call) {
  const row = element('tr');
  row.dataset.callId = call.id;
  cell(row, 'from');
  cell(row, 'to');
  cell(row, 'state');
  cell(row, 'caller');
  cell(row, 'callee');
  cell(row, 'num duration');
  cell(row, 'num packets-forward');
  cell(row, 'num packets-back');
  const button = element('button', 'danger', 'Hang up');
  button.type = 'button';
  button.dataset.action = 'hangup';
  button.addEventListener('click', () => attempt(() => hangUp(call.id, button)));
  cell(row, 'action').append(button);
  return row;
}

function updateCallRow(row, call) {
  const field = (name) => row.querySelector(`td.${name}`);
  row.dataset.state = call.state;
  row.dataset.startedAt = String(call.startedAt);
  row.dataset.answeredAt = call.answeredAt === null ? '' : String(call.answeredAt);
  field('from').textContent = call.from ?? '—';
  field('to').textContent = call.to ?? '—';
  field('to').title = `rule ${call.rule}`;
  field('state').replaceChildren(element('span', `badge state-${call.state}`, call.state));

  const caller = field('caller');
  caller.replaceChildren(...legNodes(call.caller), natBadge(call.caller.nat));
  caller.title = `${call.caller.kind}${call.anchored ? ', media anchored' : ''}`;
  const callee = field('callee');
  // A called phone has a NAT verdict too; a PBX has none.
  if (call.callee)
    callee.replaceChildren(...legNodes(call.callee), ...(call.callee.nat ? [natBadge(call.callee.nat)] : []));
  else callee.replaceChildren(element('span', 'muted', 'routing…'));
  callee.title = call.callee ? `${call.callee.kind} ${call.callee.target}` : '';

  const media = call.media;
  const noMedia = call.anchored === false ? 'media not anchored' : 'no counters yet';
  for (const [name, stream] of [
    ['packets-forward', media?.callerToCallee],
    ['packets-back', media?.calleeToCaller],
  ]) {
    const counter = field(name);
    counter.textContent = stream ? formatCount(stream.packets) : '—';
    counter.dataset.packets = stream ? String(stream.packets) : '';
    counter.title = stream ? `${formatCount(stream.bytes)} bytes` : noMedia;
  }
  const button = row.querySelector('button[data-action="hangup"]');
  if (call.state === 'ended') button.disabled = true;
  renderCallDuration(row);
}

function renderCallDuration(row) {
  const answeredAt = Number(row.dataset.answeredAt);
  const since = answeredAt || Number(row.dataset.startedAt);
  const duration = row.querySelector('td.duration');
  duration.textContent = formatDuration(Date.now() - since);
  duration.classList.toggle('muted', !answeredAt);
  duration.title = answeredAt ? 'talking' : 'setting up';
}

function renderCalls(calls) {
  syncRows(byId('calls').tBodies[0], callRows, calls, (call) => call.id, createCallRow, updateCallRow);
}

async function hangUp(id, button) {
  button.disabled = true;
  button.textContent = 'Ending…';
  const response = await request(`/api/calls/${encodeURIComponent(id)}`, 'DELETE');
  // 404: it ended by itself meanwhile; the next snapshot drops the row.
  if (!response.ok && response.status !== 404) {
    button.disabled = false;
    button.textContent = 'Hang up';
    throw new Error(`hang up ${id}: HTTP ${response.status}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Registrations: one page at a time, filtered and searched on the server

const registrationRows = new Map();
const registrationQuery = { offset: 0, q: '', transport: '', natted: '' };
/** Only the newest request may render: typing fires several and they can finish out of order. */
let registrationGeneration = 0;

function createRegistrationRow(binding) {
  const row = element('tr');
  row.dataset.aor = binding.aor;
  row.dataset.contact = binding.contact;
  cell(row, 'aor', binding.aor);
  cell(row, 'contact', binding.contact).title = binding.contact;
  cell(row, 'source');
  cell(row, 'transport');
  cell(row, 'nat');
  cell(row, 'user-agent');
  cell(row, 'num expires');
  const button = element('button', 'quiet', 'Remove');
  button.type = 'button';
  button.dataset.action = 'unregister';
  button.title = 'Remove this binding; the phone is unreachable until it registers again';
  button.addEventListener('click', () => {
    button.disabled = true;
    attempt(() => unregister(binding));
  });
  cell(row, 'action').append(button);
  return row;
}

function updateRegistrationRow(row, binding) {
  const field = (name) => row.querySelector(`td.${name}`);
  row.dataset.expiresAt = String(binding.expiresAt);
  row.dataset.natted = String(binding.natted);
  field('source').textContent = binding.source;
  field('transport').textContent = binding.transport.toUpperCase();
  field('nat').replaceChildren(natBadge(binding.nat, binding.reasons));
  const userAgent = field('user-agent');
  userAgent.textContent = binding.userAgent ?? '—';
  userAgent.title = binding.userAgent ?? '';
  field('expires').title = `registered ${formatClock(binding.registeredAt)}`;
  renderExpiry(row);
}

function renderExpiry(row) {
  row.querySelector('td.expires').textContent = formatDuration(Number(row.dataset.expiresAt) - Date.now());
}

async function loadRegistrations() {
  const generation = ++registrationGeneration;
  const { offset, q, transport, natted } = registrationQuery;
  const params = new URLSearchParams({ offset: String(offset), limit: String(PAGE_SIZE) });
  if (q) params.set('q', q);
  if (transport) params.set('transport', transport);
  if (natted) params.set('natted', natted);
  const page = await api(`/api/registrations?${params}`);
  if (generation !== registrationGeneration) return;
  if (page.items.length === 0 && page.total > 0 && offset > 0) {
    // Bindings expired or were removed under us: show the last page that still has some.
    registrationQuery.offset = Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE;
    return loadRegistrations();
  }
  syncRows(
    byId('registrations').tBodies[0],
    registrationRows,
    page.items,
    (binding) => `${binding.aor}\n${binding.contact}`,
    createRegistrationRow,
    updateRegistrationRow,
  );
  const first = page.items.length > 0 ? page.offset + 1 : 0;
  byId('registrations-range').textContent =
    `${formatCount(first)}–${formatCount(page.offset + page.items.length)} of ${formatCount(page.total)}`;
  byId('registrations-prev').disabled = page.offset === 0;
  byId('registrations-next').disabled = page.offset + page.items.length >= page.total;
}

async function unregister(binding) {
  const params = new URLSearchParams({ aor: binding.aor, contact: binding.contact });
  await api(`/api/registrations?${params}`, 'DELETE');
  await loadRegistrations();
}

function setupRegistrationControls() {
  let debounce;
  const requery = () => {
    registrationQuery.offset = 0;
    attempt(loadRegistrations);
  };
  byId('registration-search').addEventListener('input', (event) => {
    registrationQuery.q = event.target.value.trim();
    clearTimeout(debounce);
    debounce = setTimeout(requery, SEARCH_DEBOUNCE_MS);
  });
  byId('registration-transport').addEventListener('change', (event) => {
    registrationQuery.transport = event.target.value;
    requery();
  });
  byId('registration-natted').addEventListener('change', (event) => {
    registrationQuery.natted = event.target.value;
    requery();
  });
  byId('registration-filters').addEventListener('submit', (event) => event.preventDefault());
  byId('registrations-prev').addEventListener('click', () => {
    registrationQuery.offset = Math.max(0, registrationQuery.offset - PAGE_SIZE);
    attempt(loadRegistrations);
  });
  byId('registrations-next').addEventListener('click', () => {
    registrationQuery.offset += PAGE_SIZE;
    attempt(loadRegistrations);
  });
}

// ---------------------------------------------------------------------------------------------
// Recent call records

const recordRows = new Map();

function legPackets(leg) {
  return leg?.media ? leg.media.reduce((sum, stream) => sum + stream.packets, 0) : null;
}

function createRecordRow(record) {
  const row = element('tr');
  row.dataset.callId = record.callId;
  for (const name of ['started', 'from', 'to', 'rule', 'num status', 'end', 'num setup', 'num duration'])
    cell(row, name);
  cell(row, 'num packets');
  return row;
}

function updateRecordRow(row, record) {
  const field = (name) => row.querySelector(`td.${name}`);
  field('started').textContent = formatClock(record.startedAt);
  field('started').title = record.startedAt;
  field('from').textContent = record.from ?? '—';
  field('to').textContent = record.to ?? '—';
  field('rule').textContent = record.rule;
  const answered = record.finalStatus !== null && record.finalStatus >= 200 && record.finalStatus < 300;
  field('status').replaceChildren(
    element('span', `badge ${answered ? 'status-ok' : 'status-failed'}`, String(record.finalStatus ?? '—')),
  );
  field('end').textContent = record.endReason;
  field('setup').textContent = record.setupMs === null ? '—' : `${formatCount(record.setupMs)} ms`;
  field('duration').textContent = formatDuration(record.durationMs);
  const [caller, callee] = ['caller', 'callee'].map((side) =>
    legPackets(record.legs.find((leg) => leg.side === side)),
  );
  field('packets').textContent =
    caller === null && callee === null ? '—' : `${formatCount(caller ?? 0)} / ${formatCount(callee ?? 0)}`;
}

async function loadRecords() {
  const { items } = await api(`/api/records?limit=${RECORDS_SHOWN}`);
  syncRows(
    byId('records').tBodies[0],
    recordRows,
    items.slice(0, RECORDS_SHOWN),
    (record) => record.callId,
    createRecordRow,
    updateRecordRow,
  );
}

// ---------------------------------------------------------------------------------------------
// Calls and failures per minute, as an inline SVG bar chart

const CHART = { width: 1200, height: 130, left: 30, right: 4, top: 8, bottom: 20 };

/** 2, 4, 10, 20, 40, 100...: the smallest at or above `n` whose half is a whole number too. */
function niceCeiling(n) {
  if (n <= 2) return 2;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 4, 10].map((step) => step * magnitude).find((candidate) => candidate >= n);
}

function renderHistory({ bucketSeconds, buckets }) {
  const slots = Math.max(buckets.length, Math.round(3600 / bucketSeconds));
  const plotWidth = CHART.width - CHART.left - CHART.right;
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  const slotWidth = plotWidth / slots;
  const max = niceCeiling(Math.max(...buckets.map((bucket) => bucket.calls), 0));
  const y = (value) => CHART.top + plotHeight - (value / max) * plotHeight;
  const svg = svgElement('svg', {
    viewBox: `0 0 ${CHART.width} ${CHART.height}`,
    role: 'presentation',
  });

  for (const value of [0, max / 2, max]) {
    svg.append(
      svgElement('line', {
        class: 'grid',
        x1: CHART.left,
        x2: CHART.width - CHART.right,
        y1: y(value),
        y2: y(value),
      }),
    );
    const label = svgElement('text', {
      class: 'axis',
      x: CHART.left - 5,
      y: y(value) + 3.5,
      'text-anchor': 'end',
    });
    label.textContent = String(value);
    svg.append(label);
  }

  // Newest bucket at the right edge, whatever the server had to offer.
  const firstSlot = slots - buckets.length;
  buckets.forEach((bucket, index) => {
    const x = CHART.left + (firstSlot + index) * slotWidth;
    const group = svgElement('g', { class: 'bucket' });
    const title = svgElement('title', {});
    title.textContent = `${formatClock(bucket.start).slice(0, 5)}: ${bucket.calls} calls, ${bucket.failed} failed`;
    group.append(
      title,
      svgElement('rect', { class: 'hit', x, y: CHART.top, width: slotWidth, height: plotHeight }),
    );
    const barWidth = Math.max(1, slotWidth - 1);
    if (bucket.calls > 0) {
      group.append(
        svgElement('rect', {
          class: 'bar-calls',
          x,
          y: y(bucket.calls),
          width: barWidth,
          height: y(0) - y(bucket.calls),
        }),
      );
    }
    if (bucket.failed > 0) {
      group.append(
        svgElement('rect', {
          class: 'bar-failed',
          x,
          y: y(bucket.failed),
          width: barWidth,
          height: y(0) - y(bucket.failed),
        }),
      );
    }
    svg.append(group);
  });

  const minutes = Math.round((slots * bucketSeconds) / 60);
  for (const [x, anchor, text] of [
    [CHART.left, 'start', `−${minutes} min`],
    [CHART.left + plotWidth / 2, 'middle', `−${Math.round(minutes / 2)} min`],
    [CHART.width - CHART.right, 'end', 'now'],
  ]) {
    const label = svgElement('text', { class: 'axis', x, y: CHART.height - 5, 'text-anchor': anchor });
    label.textContent = text;
    svg.append(label);
  }
  const total = buckets.reduce((sum, bucket) => sum + bucket.calls, 0);
  const failed = buckets.reduce((sum, bucket) => sum + bucket.failed, 0);
  const chart = byId('history');
  chart.dataset.calls = String(total);
  chart.dataset.failed = String(failed);
  chart.replaceChildren(svg);
}

async function loadHistory() {
  renderHistory(await api('/api/history'));
}

// ---------------------------------------------------------------------------------------------
// Live stream

let lastSnapshotAt = 0;

function setConnection(state) {
  const badge = byId('connection');
  if (badge.dataset.state === state) return;
  badge.dataset.state = state;
  badge.textContent = state;
}

function connectEvents() {
  const url = token ? `/api/events?token=${encodeURIComponent(token)}` : '/api/events';
  const events = new EventSource(url);
  events.addEventListener('snapshot', (event) => {
    const { summary, calls } = JSON.parse(event.data);
    lastSnapshotAt = Date.now();
    setConnection('live');
    renderSummary(summary);
    renderCalls(calls);
  });
  events.addEventListener('error', () => {
    if (events.readyState !== EventSource.CLOSED) return setConnection('reconnecting');
    // The browser gives up for good on an HTTP error (401, 503 while draining): keep trying.
    setConnection('offline');
    setTimeout(connectEvents, RECONNECT_MS);
  });
}

/** Once a second: clocks that run between snapshots, and a stuck stream made visible. */
function tick() {
  const now = Date.now();
  if (startedAt !== null) byId('uptime').textContent = `up ${formatSpan(now - startedAt)}`;
  for (const row of callRows.values()) renderCallDuration(row);
  for (const row of registrationRows.values()) renderExpiry(row);
  if (lastSnapshotAt > 0 && now - lastSnapshotAt > STALE_AFTER_MS) setConnection('stale');
}

/** The first render comes from plain requests, so the page fills in before the first snapshot. */
async function loadInitialState() {
  const [summary, calls] = await Promise.all([api('/api/summary'), api('/api/calls')]);
  renderSummary(summary);
  renderCalls(calls.items);
}

setupRegistrationControls();
connectEvents();
attempt(loadInitialState);
setInterval(() => attempt(loadHistory), HISTORY_REFRESH_MS);
setInterval(() => attempt(loadRegistrations), REGISTRATIONS_REFRESH_MS);
setInterval(tick, 1000);
tick();
