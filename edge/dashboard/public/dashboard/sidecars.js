// The sidecars linked to this namespace and the broker bridges each runs
// (GET /admin/<ns>/sidecars): only the sidecar knows its bridges; it reports
// them on its link (docs/link-protocol.md, STATUS) and the edge keeps the
// last report. Names and addresses are shown as text.
import { $, badge, cell, clipped, el, setText, subLine } from './dom.js';
import { fmtInt, fmtSince } from './format.js';
import { loadPanel } from './optional-panel.js';

const StateKinds = { connected: 'on', 'backing-off': 'warn', connecting: '' };

export async function loadSidecars() {
  const data = await loadPanel('/sidecars', 'sidecars-panel', (answer) => Array.isArray(answer.sidecars));
  if (data === undefined) return;
  const bridges = data.sidecars.reduce((sum, sidecar) => sum + sidecar.bridges.length, 0);
  setText('sidecars-count', data.sidecars.length + (data.sidecars.length === 1 ? ' sidecar' : ' sidecars') + ' · ' + bridges + (bridges === 1 ? ' bridge' : ' bridges'));
  const list = $('sidecars-list');
  if (data.sidecars.length === 0) {
    list.replaceChildren(el('p', { class: 'muted empty-note', text: 'No sidecar is linked to this namespace.' }));
    return;
  }
  list.replaceChildren(...data.sidecars.map(sidecarBlock));
}

function sidecarBlock(sidecar) {
  const facts = [fmtInt(sidecar.devices) + (sidecar.devices === 1 ? ' device' : ' devices')];
  if (sidecar.connectedSince) facts.push('linked ' + fmtSince(sidecar.connectedSince));
  if (sidecar.remote) facts.push('from ' + sidecar.remote);
  const head = el('div', { class: 'sidecar-head' }, [clipped('span', sidecar.name || sidecar.id), badge('link v' + sidecar.version), el('span', { class: 'muted small-text', text: facts.join(' · ') })]);
  return el('div', { class: 'sidecar', 'data-sidecar': sidecar.name || sidecar.id }, [head, bridgesOf(sidecar)]);
}

function bridgesOf(sidecar) {
  if (sidecar.bridges.length === 0) {
    const why = sidecar.version < 2 ? 'Its link (version 1) does not report bridges.' : sidecar.statusAt ? 'It runs no broker bridges.' : 'It runs no broker bridges (or has not reported them yet).';
    return el('p', { class: 'muted small-text flush', text: why });
  }
  const rows = sidecar.bridges.map((bridge) =>
    el('tr', { 'data-bridge': bridge.name }, [
      el('td', { 'data-label': 'Bridge', class: 'mono' }, [clipped('span', bridge.name)]),
      el('td', { 'data-label': 'Remote', class: 'mono' }, [clipped('span', bridge.remote)]),
      // Why it is not connected, under its state: the table stays narrow enough for half the page.
      el('td', { 'data-label': 'State' }, [el('div', { class: 'lines' }, [badge(bridge.state, StateKinds[bridge.state] || ''), subLine(bridge.error)])]),
      cell('Since', fmtSince(bridge.since), 'num'),
      cell('In', fmtInt(bridge.messagesIn), 'num'),
      cell('Out', fmtInt(bridge.messagesOut), 'num'),
    ]),
  );
  const head = el('thead', null, [el('tr', null, ['Bridge', 'Remote', 'State', 'Since', 'In', 'Out'].map((name) => el('th', { text: name, title: name === 'In' ? 'messages from the remote broker to this one' : name === 'Out' ? 'messages from this broker to the remote' : undefined })))]);
  return el('div', { class: 'table-wrap' }, [el('table', { class: 'stackable' }, [head, el('tbody', null, rows)])]);
}
