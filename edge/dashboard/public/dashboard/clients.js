// The clients: sessions (online first) with their state, a detail row each
// (the QoS state, will, expiry, receive maximum), and Disconnect.
import { api, isUnauthorized } from './api.js';
import { $, badge, button, cell, el, fillTable, setText } from './dom.js';
import { fmtDuration, fmtExpiry, fmtSince, protocolNames } from './format.js';

/** Client ids whose detail row is open, across refreshes. */
const open = new Set();

export async function loadClients(showError) {
  try {
    const data = await api('/clients?limit=500');
    renderClients(data, showError);
  } catch (error) {
    if (!isUnauthorized(error)) throw error;
  }
}

function renderClients(data, showError) {
  const online = data.clients.filter((c) => c.connected).length;
  const sessions = data.clients.length;
  setText('clients-count', online + ' online · ' + sessions + (data.truncated ? '+' : '') + (sessions === 1 ? ' session' : ' sessions'));
  const rows = [];
  for (const client of data.clients) {
    rows.push(summaryRow(client, showError));
    if (open.has(client.clientId)) rows.push(detailRow(client));
  }
  fillTable('clients-body', rows, 9, 'No clients yet.');
}

function summaryRow(client, showError) {
  const subs = el('div', { class: 'subs' }, client.subscriptions.map((s) => el('code', { text: s.filter + (s.qos ? ' (' + s.qos + ')' : '') })));
  if (client.subscriptions.length === 0) subs.appendChild(el('span', { class: 'muted', text: 'none' }));
  const badges = [badge(client.connected ? 'online' : 'offline', client.connected ? 'on' : '')];
  // A queue with room in the window that does not move: the broker's own watchdog says so.
  if (client.stalledSince) badges.push(badge('stalled ' + fmtDuration(Math.max(0, (Date.now() - client.stalledSince) / 1000)), 'warn', 'queued messages and room in the in-flight window'));
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
  return el('tr', null, [
    cell('Client ID', client.clientId, 'mono'),
    el('td', { 'data-label': 'Status' }, badges),
    cell('Protocol', protocolNames[client.protocolLevel] || ''),
    cell('Address', address, 'mono'),
    el('td', { 'data-label': 'Subscriptions' }, [subs]),
    cell('In flight', client.connected && client.receiveMaximum ? client.inflight + ' / ' + client.receiveMaximum : String(client.inflight), 'num'),
    cell('Queued', client.queued + (client.awaitingRel ? ' · ' + client.awaitingRel + ' awaiting PUBREL' : ''), 'num'),
    cell('Last seen', client.lastSeen ? fmtSince(client.lastSeen) : '', 'num'),
    actions,
  ]);
}

function detailRow(client) {
  const fields = [
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
  const grid = el('div', { class: 'detail-grid' }, fields.map(([name, value]) => el('div', null, [el('span', { text: name }), el('span', { class: 'mono', text: value })])));
  return el('tr', { class: 'detail-row', 'data-detail-of': client.clientId }, [el('td', { colSpan: 9 }, [grid])]);
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

export function setupClients(showError) {
  $('clients-refresh').addEventListener('click', () => loadClients(showError).catch((e) => showError(e.message)));
}
