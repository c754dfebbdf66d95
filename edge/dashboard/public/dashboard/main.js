// The dashboard's entry: sign in and out, which namespace is open, and the
// polling that keeps each panel fresh (stats every 2 s, lists every 5 s,
// history every 10 s, for the minute under way; nothing while the tab is hidden).
import { api, forgetToken, isUnauthorized, keepToken, session } from './api.js';
import { loadClients, resetClients, setupClients } from './clients.js';
import { loadEvents, setupEvents } from './events.js';
import { $, setText } from './dom.js';
import { clearMessages, disconnectMqtt, setupMqttClient, updateMqttUrl } from './mqtt-client.js';
import { loadNamespaces, rememberNamespace } from './namespaces.js';
import { loadRetained, setupRetained } from './retained.js';
import { loadRules } from './rules.js';
import { renderObjects } from './objects.js';
import { loadSidecars } from './sidecars.js';
import { loadSubscriptions, setupSubscriptions } from './subscriptions.js';
import { loadTopics, setupTopics } from './topics.js';
import { addLiveSample, loadHistory, resetTraffic, setupTraffic } from './traffic.js';
import { loadQuotas, resetQuotas } from './quotas.js';
import { loadUsersAndAcl, setupUsersAndAcl } from './users.js';

const NsKey = 'edge-mqtt-broker.namespace';
const NsPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const StatsEveryMs = 2000;
const ListsEveryMs = 5000;
const HistoryEveryMs = 10000;

const timers = { stats: 0, lists: 0, history: 0 };

function initialNamespace() {
  // The hash holds the namespace only (never the token), so a shared link opens the same one.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('ns');
  const ns = fromHash || sessionStorage.getItem(NsKey) || 'default';
  return NsPattern.test(ns) ? ns : 'default';
}

function showBanner(message) {
  const banner = $('banner');
  banner.textContent = message;
  banner.hidden = !message;
}

function setLive(kind, text) {
  $('live-dot').className = 'dot ' + kind;
  setText('live-text', text);
}

function showLogin(message) {
  $('login').hidden = false;
  for (const id of ['app', 'ns-form', 'live', 'signout', 'sections']) $(id).hidden = true;
  $('login-ns').value = session.ns;
  $('login-error').textContent = message || '';
  $('login-token').focus();
}

function signOut(message) {
  stopPolling();
  forgetToken();
  showBanner('');
  showLogin(message);
}

function startApp(firstStats) {
  sessionStorage.setItem(NsKey, session.ns);
  rememberNamespace(session.ns);
  history.replaceState(null, '', '#ns=' + encodeURIComponent(session.ns));
  $('login').hidden = true;
  for (const id of ['app', 'ns-form', 'live', 'signout', 'sections']) $(id).hidden = false;
  $('ns-input').value = session.ns;
  updateMqttUrl();
  resetTraffic();
  if (firstStats) addLiveSample(firstStats);
  loadNamespaces(session.ns, openNamespace);
  startPolling();
}

function openNamespace(ns) {
  if (!NsPattern.test(ns) || ns === session.ns) return;
  disconnectMqtt();
  session.ns = ns;
  clearMessages();
  resetClients();
  resetQuotas();
  startApp(null);
}

// ---- polling ---------------------------------------------------------------

function startPolling() {
  stopPolling();
  pollStats();
  pollLists();
  pollHistory();
}

function stopPolling() {
  for (const name of Object.keys(timers)) {
    clearTimeout(timers[name]);
    timers[name] = 0;
  }
}

function schedule(name, poll, ms) {
  if (session.token) timers[name] = setTimeout(poll, ms);
}

async function pollStats() {
  clearTimeout(timers.stats);
  if (!session.token || document.hidden) return; // resumed by visibilitychange
  try {
    const stats = await api('/stats');
    showBanner('');
    setLive('ok', 'live');
    addLiveSample(stats);
    renderObjects(stats);
  } catch (error) {
    if (isUnauthorized(error)) return;
    setLive('bad', 'offline');
    showBanner('Could not read namespace "' + session.ns + '": ' + error.message);
  }
  schedule('stats', pollStats, StatsEveryMs);
}

async function pollLists() {
  clearTimeout(timers.lists);
  if (!session.token || document.hidden) return;
  await Promise.all([loadClients(showBanner), loadEvents(), loadSidecars(), loadRetained(), loadSubscriptions(), loadTopics(showBanner), loadRules(), loadUsersAndAcl(), loadQuotas()]).catch(() => {});
  schedule('lists', pollLists, ListsEveryMs);
}

async function pollHistory() {
  clearTimeout(timers.history);
  if (!session.token || document.hidden) return;
  await loadHistory().catch(() => {});
  schedule('history', pollHistory, HistoryEveryMs);
}

// ---- wiring ------------------------------------------------------------------

session.ns = initialNamespace();
session.onUnauthorized = signOut;

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = $('login-token').value.trim();
  const ns = $('login-ns').value.trim() || 'default';
  if (!NsPattern.test(ns)) {
    $('login-error').textContent = 'A namespace is 1-64 letters, digits, ".", "_" or "-".';
    return;
  }
  $('login-submit').disabled = true;
  $('login-error').textContent = '';
  session.token = token;
  session.ns = ns;
  try {
    const stats = await api('/stats');
    keepToken(token);
    $('login-token').value = '';
    startApp(stats);
  } catch (error) {
    if (!isUnauthorized(error)) $('login-error').textContent = 'Could not sign in: ' + error.message;
  }
  $('login-submit').disabled = false;
});

$('signout').addEventListener('click', () => {
  disconnectMqtt();
  signOut('');
});

$('ns-form').addEventListener('submit', (event) => {
  event.preventDefault();
  openNamespace($('ns-input').value.trim());
});

// Section links scroll without touching the hash, which holds the namespace.
for (const link of document.querySelectorAll('#sections a')) {
  link.addEventListener('click', (event) => {
    event.preventDefault();
    const target = document.querySelector(link.getAttribute('href'));
    if (target) target.scrollIntoView({ block: 'start' });
  });
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && session.token && !$('app').hidden) startPolling();
});

setupTraffic();
setupClients(showBanner);
setupEvents(showBanner);
setupTopics(showBanner);
setupSubscriptions();
setupRetained(showBanner);
setupUsersAndAcl(showBanner);
setupMqttClient(() => loadRetained().catch(() => {}));

if (session.token) {
  api('/stats')
    .then(startApp)
    .catch((error) => {
      if (isUnauthorized(error)) return;
      startApp(null);
      showBanner('Could not read namespace "' + session.ns + '": ' + error.message);
    });
} else {
  showLogin('');
}
