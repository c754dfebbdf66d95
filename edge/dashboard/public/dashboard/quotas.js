// The namespace's limits (GET/PATCH /admin/<ns>/quotas): each in force, the
// deployment's default, and a field to set the namespace's own. A row being
// edited is left alone by the refresh; every other row shows what the
// broker answered last. What a client over each limit gets is in
// docs/configuration.md.
import { api, isUnauthorized } from './api.js';
import { $, badge, button, cell, el, fillTable, setText } from './dom.js';
import { fmtBytes, fmtInt } from './format.js';
import { loadPanel } from './optional-panel.js';

/** Names of the rows being edited: a refresh does not replace them. */
const editing = new Set();

export async function loadQuotas() {
  if (editing.size > 0) return;
  const data = await loadPanel('/quotas', 'quotas-panel', (answer) => Array.isArray(answer.quotas));
  if (data === undefined) return;
  render(data.quotas);
}

function render(quotas) {
  const own = quotas.filter((quota) => quota.set).length;
  setText('quotas-count', own === 0 ? 'all defaults' : own + ' set for this namespace');
  fillTable('quotas-body', quotas.map(row), 5, 'No limits.');
}

/** A limit's value as a person reads it. */
function shown(quota, value) {
  if (quota.unit === 'boolean') return value ? 'yes' : 'no';
  if (value === 0 && /\(0: /.test(quota.label)) return 'no limit';
  switch (quota.unit) {
    case 'bytes':
      return fmtBytes(value);
    case 'per-second':
      return fmtInt(value) + ' /s';
    case 'seconds':
      return fmtInt(value) + ' s';
    case 'ms':
      return fmtInt(value) + ' ms';
    default:
      return fmtInt(value);
  }
}

function row(quota) {
  const name = el('td', { 'data-label': 'Limit' }, [el('div', { text: quota.label }), el('div', { class: 'sub mono', text: quota.name + ' · ' + quota.variable })]);
  const value = el('td', { 'data-label': 'In force', class: 'mono' }, [
    document.createTextNode(shown(quota, quota.value) + ' '),
    quota.set ? badge('own', 'on', 'set for this namespace' + (quota.setAt ? ' on ' + new Date(quota.setAt).toLocaleString() : '')) : null,
  ]);
  const applies = cell('Applies', quota.applies === 'now' ? 'at once' : 'next connection', 'muted');
  const actions = el('td', { class: 'actions' });
  const edit = button('Change', 'small', () => startEdit(quota, tr, actions));
  edit.setAttribute('data-quota', quota.name);
  actions.appendChild(edit);
  if (quota.set) {
    const reset = button('Default', 'small', () => save({ [quota.name]: null }, reset));
    reset.setAttribute('data-quota-reset', quota.name);
    actions.appendChild(reset);
  }
  const tr = el('tr', { 'data-quota-row': quota.name }, [name, value, cell('Default', shown(quota, quota.default), 'mono muted'), applies, actions]);
  return tr;
}

function startEdit(quota, tr, actions) {
  editing.add(quota.name);
  const input =
    quota.unit === 'boolean'
      ? el('select', { 'aria-label': quota.label }, [el('option', { value: 'true', text: 'yes' }), el('option', { value: 'false', text: 'no' })])
      : el('input', { type: 'number', min: String(quota.min), max: String(quota.max), step: '1', 'aria-label': quota.label, class: 'quota-input' });
  input.value = String(quota.value);
  input.setAttribute('data-quota-input', quota.name);
  const done = () => {
    editing.delete(quota.name);
    loadQuotas().catch(() => {});
  };
  const ok = button('Save', 'small', () => {
    const value = quota.unit === 'boolean' ? input.value === 'true' : Number(input.value);
    ok.disabled = true;
    editing.delete(quota.name);
    save({ [quota.name]: value }, ok);
  });
  ok.setAttribute('data-quota-save', quota.name);
  actions.replaceChildren(input, ok, button('Cancel', 'small', done));
  tr.classList.add('editing');
  input.focus();
}

async function save(changes, node) {
  $('quotas-error').textContent = '';
  if (node) node.disabled = true;
  try {
    await api('/quotas', { method: 'PATCH', body: changes });
  } catch (error) {
    if (!isUnauthorized(error)) $('quotas-error').textContent = error.message;
  }
  await loadQuotas().catch(() => {});
}

/** A new namespace: nothing of the last one is being edited. */
export function resetQuotas() {
  editing.clear();
}
