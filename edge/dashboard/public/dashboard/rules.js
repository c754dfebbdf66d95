// Rules (message routing to other places), when the broker has them: the
// panel stays hidden while GET /admin/<ns>/rules answers 404. Below the
// rules, their dead letters (dead-letters.js).
import { api, isUnauthorized } from './api.js';
import { loadDeadLetters, ruleActions, setReload } from './dead-letters.js';
import { $, badge, cell, el, fillTable, find, setText } from './dom.js';
import { fmtInt, fmtSince } from './format.js';

setReload(() => loadRules());

export async function loadRules() {
  let data;
  try {
    data = await api('/rules', { optional: true });
  } catch (error) {
    if (isUnauthorized(error)) return;
    throw error;
  }
  const panel = $('rules-panel');
  const shown = data !== null && Array.isArray(data.rules);
  panel.hidden = !shown;
  find('#sections a[href="#rules-panel"]').hidden = !shown;
  if (!shown) return;
  setText('rules-count', String(data.rules.length));
  const rows = data.rules.map((rule) => {
    const error = el('td', { 'data-label': 'Last error' });
    if (rule.lastError) {
      error.appendChild(badge('error', 'warn'));
      error.appendChild(el('span', { text: ' ' + rule.lastError + (rule.lastErrorAt ? ' (' + fmtSince(rule.lastErrorAt) + ')' : '') }));
    }
    // A broker before dead letters has no such count: shown as empty.
    const deadLetters = rule.deadLetters || 0;
    const dead = el('td', { 'data-label': 'Dead letters', class: 'num' }, [el('span', { text: rule.deadLetters === undefined ? '' : fmtInt(deadLetters) })]);
    if (deadLetters > 0) dead.appendChild(ruleActions(rule));
    const problem = rule.failed > 0 || rule.dropped > 0 || deadLetters > 0;
    return el('tr', { class: problem ? 'flagged' : '' }, [
      cell('Rule', rule.name, 'mono'),
      cell('Filter → to', rule.filter + ' → ' + rule.to, 'mono'),
      cell('Matched', fmtInt(rule.matched), 'num'),
      cell('Delivered', fmtInt(rule.delivered), 'num'),
      cell('Failed', fmtInt(rule.failed), 'num'),
      cell('Dropped', fmtInt(rule.dropped), 'num'),
      cell('Pending', fmtInt(rule.pending), 'num'),
      dead,
      error,
    ]);
  });
  fillTable('rules-body', rows, 9, 'No rules configured.');
  await loadDeadLetters(data.rules.reduce((sum, rule) => sum + (rule.deadLetters || 0), 0));
}
