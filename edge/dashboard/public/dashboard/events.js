// The namespace's last refusals and disconnect causes (GET /admin/<ns>/events,
// edge/core/connection-events.ts): who, from where, over what, why, and the
// code on the wire. Filtered by the broker by event and reason; the reasons
// offered are those seen since the page opened.
import { $, badge, cell, clipped, el, fillTable, setText, subLine } from './dom.js';
import { fmtWhen } from './format.js';
import { loadPanel } from './optional-panel.js';

const Limit = 100;
const Columns = 8;
const EventNames = {
  'connection.refused': 'refused',
  'connection.closed': 'closed',
  'connection.protocol-error': 'protocol error',
  'connection.keepalive-timeout': 'keep-alive timeout',
  'connection.taken-over': 'taken over',
};
const TransportNames = { ws: 'WebSocket', tcp: 'TCP', link: 'sidecar' };
/** Ends nobody needs to look into: a client that said goodbye, or that was replaced by itself. */
const Ordinary = new Set(['client-disconnect', 'takeover']);
const reasons = new Set();

export async function loadEvents() {
  const type = $('events-type').value;
  const reason = $('events-reason').value;
  const query = '/events?limit=' + Limit + (type ? '&type=' + encodeURIComponent(type) : '') + (reason ? '&reason=' + encodeURIComponent(reason) : '');
  const data = await loadPanel(query, 'events-panel', (answer) => Array.isArray(answer.events));
  if (data === undefined) return;
  for (const entry of data.events) if (entry.reason) reasons.add(entry.reason);
  renderReasons(reason);
  setText('events-count', (data.events.length === Limit ? 'newest ' : '') + data.events.length + (type || reason ? ' matching' : '') + ' · the broker keeps the last ' + data.capacity);
  const rows = data.events.map((entry) =>
    el('tr', { 'data-event': entry.event }, [
      el('td', { 'data-label': 'Time', class: 'num', title: new Date(entry.at).toLocaleString(), text: fmtWhen(entry.at) }),
      el('td', { 'data-label': 'Event' }, [badge(EventNames[entry.event] || entry.event, kindOf(entry))]),
      el('td', { 'data-label': 'Client ID', class: 'mono id' }, [clipped('span', entry.clientId || '')]),
      el('td', { 'data-label': 'Username', class: 'mono' }, [clipped('span', entry.username || '')]),
      el('td', { 'data-label': 'Address', class: 'mono' }, [clipped('span', entry.remoteAddress || '')]),
      cell('Transport', TransportNames[entry.transport] || entry.transport || ''),
      el('td', { 'data-label': 'Reason', class: 'mono' }, [entry.reason || entry.error ? el('div', { class: 'lines' }, [clipped('div', entry.reason || ''), subLine(entry.error)]) : null]),
      cell('Code', codeText(entry.code), 'num'),
    ]),
  );
  fillTable('events-body', rows, Columns, type || reason ? 'No event matches.' : 'No refusals or disconnects yet.');
}

function kindOf(entry) {
  if (entry.event === 'connection.closed' || entry.event === 'connection.taken-over') return Ordinary.has(entry.reason) || entry.event === 'connection.taken-over' ? '' : 'warn';
  return 'warn';
}

/** A 5.0 reason code also in hex (as the spec lists them); a 3.x return code as it is. */
function codeText(code) {
  if (code === undefined || code === null) return '';
  return code >= 0x80 ? code + ' (0x' + code.toString(16) + ')' : String(code);
}

function renderReasons(selected) {
  const select = $('events-reason');
  const options = [el('option', { value: '', text: 'any' }), ...[...reasons].sort().map((reason) => el('option', { value: reason, text: reason }))];
  if (select.options.length === options.length) return;
  select.replaceChildren(...options);
  select.value = selected;
}

export function setupEvents(showError) {
  const reload = () => loadEvents().catch((e) => showError('Could not read the events: ' + e.message));
  $('events-type').addEventListener('change', reload);
  $('events-reason').addEventListener('change', reload);
  $('events-refresh').addEventListener('click', reload);
}
