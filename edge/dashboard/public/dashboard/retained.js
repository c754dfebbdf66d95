// Retained messages: filter, $SYS on or off, delete one.
import { api, isUnauthorized } from './api.js';
import { $, button, cell, el, fillTable, setText } from './dom.js';
import { fmtBytes } from './format.js';

const state = { list: [], truncated: false };

export async function loadRetained() {
  try {
    const data = await api('/retained?limit=1000');
    state.list = data.retained;
    state.truncated = data.truncated;
    renderRetained();
  } catch (error) {
    if (!isUnauthorized(error)) throw error;
  }
}

function renderRetained() {
  const filter = $('retained-filter').value.trim().toLowerCase();
  const showSys = $('retained-sys').checked;
  const list = state.list
    .filter((m) => (showSys || !m.topic.startsWith('$SYS')) && (!filter || m.topic.toLowerCase().includes(filter)))
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  setText('retained-count', list.length + (state.truncated ? '+' : '') + ' shown');
  const rows = list.map((message) => {
    const remove = button('Delete', 'small danger', () => deleteRetained(message.topic, remove));
    remove.setAttribute('data-topic', message.topic);
    return el('tr', null, [
      cell('Topic', message.topic, 'mono'),
      cell('QoS', message.qos, 'num'),
      cell('Size', fmtBytes(message.payloadBytes), 'num'),
      el('td', { 'data-label': 'Payload' }, [el('div', { class: 'preview', text: message.payloadPreview + (message.payloadBytes > 200 ? '…' : '') })]),
      el('td', { class: 'actions' }, [remove]),
    ]);
  });
  fillTable('retained-body', rows, 5, state.list.length ? 'No topic matches.' : 'No retained messages.');
}

/** @type {(message: string) => void} */
let showError = () => {};

async function deleteRetained(topic, node) {
  if (!confirm('Delete the retained message on "' + topic + '"?')) return;
  node.disabled = true;
  try {
    await api('/retained?topic=' + encodeURIComponent(topic), { method: 'DELETE' });
  } catch (error) {
    if (!isUnauthorized(error)) showError('Delete failed: ' + error.message);
  }
  await loadRetained().catch(() => {});
}

export function setupRetained(onError) {
  showError = onError;
  $('retained-filter').addEventListener('input', renderRetained);
  $('retained-sys').addEventListener('change', renderRetained);
  $('retained-refresh').addEventListener('click', () => loadRetained().catch((e) => showError(e.message)));
}
