// The clients: a page of sessions (online first) at a time, searched and
// paged by the broker (GET /admin/<ns>/clients?q=&offset=&limit=), so a
// namespace of thousands costs a page per refresh. A detail row each (the
// QoS state, will, expiry, receive maximum), and Disconnect.
import { api, isUnauthorized } from './api.js';
import { $, badge, button, cell, clipped, el, fillTable, setText } from './dom.js';
import { fmtBytes, fmtDuration, fmtExpiry, fmtInt, fmtSince, protocolNames } from './format.js';

const PageSize = 25;
const Columns = 10;
/** Typing waits this long for the next key before it asks the broker. */
const SearchDelayMs = 250;

/** Client ids whose detail row is open, across refreshes. */
const open = new Set();
const state = { search: '', offset: 0, total: 0, searchTimer: 0 };

export async function loadClients(showError) {
  try {
    const query = '/clients?limit=' + PageSize + '&offset=' + state.offset + (state.search ? '&q=' + encodeURIComponent(state.search) : '');
    const data = await api(query);
    // Clients left while this page was open: go back to the last page that has any.
    if (data.clients.length === 0 && data.total > 0 && state.offset > 0) {
      state.offset = Math.floor((data.total - 1) / PageSize) * PageSize;
      return loadClients(showError);
    }
    state.total = data.total;
    renderClients(data, showError);
  } catch (error) {
    if (!isUnauthorized(error)) throw error;
  }
}

function renderClients(data, showError) {
  const online = data.clients.filter((c) => c.connected).length;
  const what = state.search ? ' matching' : '';
  setText('clients-count', fmtInt(data.total) + what + (data.total === 1 ? ' session' : ' sessions') + (state.offset === 0 && !data.truncated ? ' · ' + online + ' online' : ''));
  const first = data.clients.length === 0 ? 0 : state.offset + 1;
  setText('clients-page', first + '–' + (state.offset + data.clients.length) + ' of ' + fmtInt(data.total));
  $('clients-prev').disabled = state.offset === 0;
  $('clients-next').disabled = !data.truncated;
  $('clients-pager').hidden = state.offset === 0 && !data.truncated;
  const rows = [];
  for (const client of data.clients) {
    rows.push(summaryRow(client, showError));
    if (open.has(client.clientId)) rows.push(detailRow(client));
  }
  fillTable('clients-body', rows, Columns, state.search ? 'No client matches "' + state.search + '".' : 'No clients yet.');
}

function summaryRow(client, showError) {
  const subs = el('div', { class: 'subs' }, client.subscriptions.map((s) => clipped('code', s.filter + (s.qos ? ' (' + s.qos + ')' : ''))));
  if (client.subscriptions.length === 0) subs.appendChild(el('span', { class: 'muted', text: 'none' }));
  const badges = [badge(client.connected ? 'online' : 'offline', client.connected ? 'on' : '')];
  // Another broker's bridge (a 3.x CONNECT with the bridge bit): what it publishes is not sent back to it.
  if (client.brokerBridge) badges.push(badge('bridge', '', "another broker's bridge: it is not sent back what it publishes"));
  // A queue with room in the window that does not move: the broker's own watchdog says so.
  if (client.stalledSince) badges.push(badge('stalled ' + fmtDuration(Math.max(0, (Date.now() - client.stalledSince) / 1000)), 'warn', 'queued messages and room in the in-flight window'));
  // Over its share while the namespace is behind: its acknowledgements wait, its QoS 0 is dropped (docs/flow-control.md).
  if (client.flow && client.flow.slowed) badges.push(badge('slowed', 'warn', 'sending more than its share while the broker is behind'));
  const stack = el('div', { class: 'action-stack' });
  const actions = el('td', { class: 'actions' }, [stack]);
  const toggle = button(open.has(client.clientId) ? 'Hide' : 'Details', 'small', () => {
    if (open.has(client.clientId)) open.delete(client.clientId);
    else open.add(client.clientId);
    loadClients(showError).catch((e) => showError(e.message));
  });
  toggle.setAttribute('data-details', client.clientId);
  stack.appendChild(toggle);
  if (client.connected) {
    const disconnect = button('Disconnect', 'small danger', () => disconnectClient(client.clientId, disconnect, showError));
    disconnect.setAttribute('data-client', client.clientId);
    stack.appendChild(disconnect);
  }
  const address = client.remoteAddress ? client.remoteAddress + (client.bridged ? ' (TCP)' : '') : '';
  // Awaiting PUBREL goes on a line of its own: the column stays narrow and the row's buttons in view.
  const queued = el('div', { class: 'lines' }, [el('div', { text: String(client.queued) })]);
  if (client.awaitingRel) queued.appendChild(el('div', { class: 'sub', text: client.awaitingRel + ' awaiting PUBREL' }));
  // On a phone, what says nothing (a zero, "none") is left out of the row's card; Details has it all.
  const quiet = (idle) => (idle ? 'num quiet' : 'num');
  return el('tr', { 'data-client-row': client.clientId }, [
    el('td', { 'data-label': 'Client ID', class: 'mono id' }, [clipped('span', client.clientId)]),
    el('td', { 'data-label': 'Status' }, badges),
    el('td', { 'data-label': 'Username', class: 'mono' }, [clipped('span', client.username || '')]),
    el('td', { 'data-label': 'Address', class: 'mono' }, [clipped('span', address)]),
    cell('Protocol', protocolNames[client.protocolLevel] || '', 'quiet'),
    el('td', { 'data-label': 'Subscriptions', class: client.subscriptions.length === 0 ? 'quiet' : '' }, [subs]),
    cell('In flight', client.connected && client.receiveMaximum ? client.inflight + ' / ' + client.receiveMaximum : String(client.inflight), quiet(client.inflight === 0)),
    el('td', { 'data-label': 'Queued', class: quiet(client.queued === 0 && !client.awaitingRel) }, [queued]),
    cell('Last seen', client.lastSeen ? fmtSince(client.lastSeen) : '', 'num'),
    actions,
  ]);
}

function detailRow(client) {
  const fields = [
    ['Client ID', client.clientId],
    ['Username', client.username || '—'],
    ['Protocol level', client.protocolLevel ? client.protocolLevel + ' (' + (protocolNames[client.protocolLevel] || '?') + ')' : ''],
    ['Connected since', client.connectedAt ? new Date(client.connectedAt).toLocaleString() : '—'],
    ['Last seen', client.lastSeen ? new Date(client.lastSeen).toLocaleString() : '—'],
    ['Keep-alive', client.keepAlive ? client.keepAlive + ' s' : '—'],
    ['Session expiry', fmtExpiry(client.sessionExpiryInterval)],
    ['Will topic', client.willTopic || '—'],
    ['Receive maximum', client.receiveMaximum === undefined ? '—' : String(client.receiveMaximum)],
    ['In flight', client.inflight + ' (' + client.inflightStored + ' stored, ' + client.inflightMemoryOnly + ' in memory)'],
    ['Queued', String(client.queued)],
    ['Awaiting PUBREL', String(client.awaitingRel)],
    ['Stalled since', client.stalledSince ? new Date(client.stalledSince).toLocaleTimeString() : '—'],
  ];
  const flow = client.flow;
  if (flow) {
    fields.push(
      ['Waiting to be handled', fmtBytes(flow.pendingBytes) + ' (' + Math.round(flow.share * 100) + ' % of all)'],
      ['Acknowledgements held', flow.heldAcks + ' now, ' + flow.heldAcksTotal + ' in all'],
      ['QoS 0 dropped (over its share)', String(flow.droppedQos0)],
      ['Time slowed', fmtDuration(flow.slowedMs / 1000)],
    );
  }
  const grid = el('div', { class: 'detail-grid' }, fields.map(([name, value]) => el('div', null, [el('span', { text: name }), el('span', { class: 'mono', text: value })])));
  return el('tr', { class: 'detail-row', 'data-detail-of': client.clientId }, [el('td', { colSpan: Columns }, [grid])]);
}

async function disconnectClient(clientId, node, showError) {
  if (!confirm('Disconnect client "' + clientId + '"?')) return;
  node.disabled = true;
  try {
    await api('/clients/' + encodeURIComponent(clientId) + '/disconnect', { method: 'POST' });
  } catch (error) {
    if (!isUnauthorized(error)) showError('Disconnect failed: ' + error.message);
  }
  await loadClients(showError).catch(() => {});
}

/** Another namespace: its clients start at the first page, unsearched. */
export function resetClients() {
  state.search = '';
  state.offset = 0;
  $('clients-search').value = '';
}

export function setupClients(showError) {
  const reload = () => loadClients(showError).catch((e) => showError(e.message));
  $('clients-refresh').addEventListener('click', reload);
  $('clients-search').addEventListener('input', () => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(() => {
      state.search = $('clients-search').value.trim();
      state.offset = 0;
      reload();
    }, SearchDelayMs);
  });
  $('clients-prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PageSize);
    reload();
  });
  $('clients-next').addEventListener('click', () => {
    if (state.offset + PageSize < state.total) state.offset += PageSize;
    reload();
  });
}
