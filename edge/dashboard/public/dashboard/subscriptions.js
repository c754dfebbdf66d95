// Subscriptions across clients, filterable by client id or filter text.
import { api, isUnauthorized } from './api.js';
import { $, badge, cell, el, fillTable, setText } from './dom.js';

const state = { list: [], truncated: false };

export async function loadSubscriptions() {
  try {
    const data = await api('/subscriptions?limit=1000');
    state.list = data.subscriptions;
    state.truncated = data.truncated;
    renderSubscriptions();
  } catch (error) {
    if (!isUnauthorized(error)) throw error;
  }
}

function renderSubscriptions() {
  const needle = $('subscriptions-filter').value.trim().toLowerCase();
  const shown = state.list.filter((s) => !needle || s.clientId.toLowerCase().includes(needle) || s.filter.toLowerCase().includes(needle));
  setText('subscriptions-count', shown.length + (state.truncated ? '+' : '') + ' of ' + state.list.length);
  const rows = shown.map((s) =>
    el('tr', null, [
      cell('Client ID', s.clientId, 'mono'),
      cell('Filter', s.filter, 'mono'),
      cell('QoS', s.qos, 'num'),
      cell('Share group', s.shareGroup || ''),
      el('td', { 'data-label': 'Status' }, [badge(s.online ? 'online' : 'offline', s.online ? 'on' : '')]),
    ]),
  );
  fillTable('subscriptions-body', rows, 5, state.list.length ? 'No subscription matches.' : 'No subscriptions.');
}

export function setupSubscriptions() {
  $('subscriptions-filter').addEventListener('input', renderSubscriptions);
}
