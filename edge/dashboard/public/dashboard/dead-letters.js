// The rules panel's dead letters: messages a rule's target refused for good
// or that ran out of attempts (docs/rules.md, "Dead letters"). Retry puts
// one back in its rule's outbox, Drop deletes it; per rule, both at once.
// Payloads and errors come from clients and receivers: set as text only.
import { api, isUnauthorized } from './api.js';
import { $, button, cell, el, fillTable, setText } from './dom.js';
import { fmtInt, fmtSince } from './format.js';

/** How many the panel lists: enough to act on, small enough to poll. */
const ListLimit = 100;
/** Characters of a payload the list shows. */
const PreviewChars = 120;

/** Reloads the whole panel after an action (set by rules.js). */
let reload = async () => {};

export function setReload(callback) {
  reload = callback;
}

/** Shows the dead letters of the rules that have some; hidden while there are none. */
export async function loadDeadLetters(total) {
  const part = $('dead-letters-part');
  if (total === 0) {
    part.hidden = true;
    return;
  }
  const data = await api('/rules/dead-letters?limit=' + ListLimit, { optional: true });
  // A broker without the route (404) has no dead letters to show.
  part.hidden = data === null;
  if (data === null) return;
  setText('dead-letters-count', fmtInt(total) + (data.truncated ? ' (the oldest ' + data.deadLetters.length + ' shown)' : ''));
  const rows = data.deadLetters.map((letter) => {
    const retry = button('Retry', 'small', () => act(() => api('/rules/dead-letters/' + letter.id + '/retry', { method: 'POST' }), retry));
    retry.setAttribute('data-retry', String(letter.id));
    const drop = button('Drop', 'small danger', () => {
      if (confirm('Drop the dead letter ' + letter.id + ' of rule "' + letter.rule + '" for good?')) return act(() => api('/rules/dead-letters/' + letter.id, { method: 'DELETE' }), drop);
    });
    drop.setAttribute('data-drop', String(letter.id));
    const time = cell('Time', fmtSince(letter.deadAt));
    time.title = new Date(letter.deadAt).toLocaleString();
    return el('tr', null, [
      cell('Rule', letter.rule, 'mono'),
      cell('Topic', letter.topic, 'mono'),
      cell('Attempts', fmtInt(letter.attempts), 'num'),
      cell('Last error', letter.lastError),
      time,
      el('td', { 'data-label': 'Payload' }, [el('div', { class: 'preview', text: preview(letter) })]),
      el('td', { class: 'actions' }, [el('div', { class: 'action-stack' }, [retry, drop])]),
    ]);
  });
  fillTable('dead-letters-body', rows, 7, 'No dead letters.');
}

/** Retry all and Drop all for one rule's dead letters (a cell of the rules table). */
export function ruleActions(rule) {
  const query = '?rule=' + encodeURIComponent(rule.name);
  const retry = button('Retry all', 'small', () => act(() => api('/rules/dead-letters/retry' + query, { method: 'POST' }), retry));
  retry.setAttribute('data-retry-rule', rule.name);
  const drop = button('Drop all', 'small danger', () => {
    if (confirm('Drop the ' + rule.deadLetters + ' dead letters of rule "' + rule.name + '" for good?')) return act(() => api('/rules/dead-letters' + query, { method: 'DELETE' }), drop);
  });
  drop.setAttribute('data-drop-rule', rule.name);
  return el('div', { class: 'action-stack' }, [retry, drop]);
}

function preview(letter) {
  if (typeof letter.payload !== 'string') return '(binary, ' + fmtInt(letter.payloadBytes) + ' bytes)';
  const text = letter.payload.length > PreviewChars ? letter.payload.slice(0, PreviewChars) + '…' : letter.payload;
  return text === '' ? '(empty)' : text;
}

async function act(call, node) {
  node.disabled = true;
  $('dead-letters-error').textContent = '';
  try {
    await call();
  } catch (error) {
    // 409: the outbox is full; the API's own words say so.
    if (!isUnauthorized(error)) $('dead-letters-error').textContent = error.message;
  }
  await reload().catch((error) => ($('dead-letters-error').textContent = error.message));
}
