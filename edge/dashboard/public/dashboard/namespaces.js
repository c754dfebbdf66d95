// The namespace list: what MQTT_NAMESPACES declares (GET /admin/namespaces,
// global admin token only) and the names this browser has opened. There is
// no index of namespaces to ask (see edge/observability/namespace-list.ts).
import { api } from './api.js';
import { $, badge, button, el } from './dom.js';

const SeenKey = 'edge-mqtt-broker.namespaces-opened';
const MaxRemembered = 30;

export function rememberNamespace(ns) {
  const seen = openedHere().filter((name) => name !== ns);
  seen.unshift(ns);
  localStorage.setItem(SeenKey, JSON.stringify(seen.slice(0, MaxRemembered)));
}

function openedHere() {
  try {
    const list = JSON.parse(localStorage.getItem(SeenKey) || '[]');
    return Array.isArray(list) ? list.filter((name) => typeof name === 'string') : [];
  } catch {
    return [];
  }
}

export async function loadNamespaces(current, open) {
  // A namespace's own token may not list the others: then only this browser's names are shown.
  const data = await api('', { absolute: '/admin/namespaces', quiet401: true }).catch(() => null);
  const declared = data ? data.namespaces : [];
  const patterns = data ? data.patterns : [];
  const names = new Map(declared.map((n) => [n.name, n]));
  for (const name of openedHere()) if (!names.has(name)) names.set(name, { name, openedHere: true });
  const items = [...names.values()].map((n) => {
    const parts = [el('span', { class: 'mono', text: n.name })];
    if (n.name === current) parts.push(badge('open', 'on'));
    else if (n.hasStorage === true) parts.push(badge('has data'));
    else if (n.hasStorage === false) parts.push(badge('unused'));
    else if (n.openedHere) parts.push(badge('opened here'));
    if (n.name !== current) parts.push(button('Open', 'small', () => open(n.name)));
    return el('li', { class: 'chip' }, parts);
  });
  for (const pattern of patterns) items.push(el('li', { class: 'chip', title: 'any name that matches' }, [el('span', { class: 'mono', text: pattern }), badge('pattern')]));
  $('namespaces-list').replaceChildren(...items);
  $('ns-known').replaceChildren(...[...names.keys()].map((name) => el('option', { value: name })));
}
