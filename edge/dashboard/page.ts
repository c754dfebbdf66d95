/**
 * The dashboard: one static page, no build step, no libraries but MQTT.js
 * (served by the Worker itself, see serve.ts). It signs in with the admin
 * token (kept in sessionStorage), polls `/admin/<ns>/stats` for the live
 * numbers and chart, lists clients and retained messages, and has an MQTT
 * client of its own over WebSocket to `/mqtt/<ns>`.
 *
 * Everything shown that came from clients (ids, topics, payloads) is set
 * with textContent, never as HTML. The inline script and style carry a
 * per-response nonce for the Content-Security-Policy.
 *
 * The page's script avoids template literals so this file can hold it in one.
 */

export interface DashboardPageOptions {
  /** CSP nonce of this response (base64). */
  nonce: string;
  /** Path of the MQTT.js browser bundle. */
  mqttScriptPath: string;
  version: string;
}

export function renderDashboardPage(options: DashboardPageOptions): string {
  return page
    .replaceAll('__NONCE__', options.nonce)
    .replace('__MQTT_SRC__', options.mqttScriptPath)
    .replaceAll('__VERSION__', options.version);
}

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>MQTT broker dashboard</title>
<link rel="icon" href="data:,">
<style nonce="__NONCE__">
:root {
  --bg: #f4f6f9; --panel: #fff; --text: #17202b; --muted: #5d6b79; --line: #e2e7ed; --soft: #eef2f6;
  --accent: #2563eb; --accent-text: #fff; --in: #2563eb; --out: #0f9d58; --conn: #e8710a;
  --danger: #d93025; --ok: #0f9d58; --warn: #b06000; --radius: 10px;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1318; --panel: #161d25; --text: #e4eaf0; --muted: #8d9aa8; --line: #27313c; --soft: #1d2630;
    --accent: #5b9cf8; --accent-text: #0e1318; --in: #5b9cf8; --out: #3fcf8e; --conn: #f59e4b; --danger: #f0776c; --ok: #3fcf8e; --warn: #f2b45b;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
[hidden] { display: none !important; }
button, input, select, textarea { font: inherit; color: inherit; }
input, select, textarea {
  background: var(--panel); border: 1px solid var(--line); border-radius: 7px; padding: 7px 9px; min-width: 0; width: 100%;
}
input:focus, select:focus, textarea:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
textarea { resize: vertical; min-height: 64px; font-family: var(--mono); font-size: 13px; }
button {
  border: 1px solid var(--line); background: var(--soft); border-radius: 7px; padding: 7px 13px; cursor: pointer; white-space: nowrap;
}
button:hover { filter: brightness(0.97); }
button:disabled { opacity: .55; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); font-weight: 600; }
button.danger { color: var(--danger); }
button.small { padding: 3px 9px; font-size: 12.5px; }
label { display: block; font-size: 12px; color: var(--muted); margin-bottom: 3px; }
code, .mono { font-family: var(--mono); font-size: 12.5px; }

header {
  position: sticky; top: 0; z-index: 5; display: flex; align-items: center; gap: 12px; flex-wrap: wrap;
  padding: 10px 18px; background: var(--panel); border-bottom: 1px solid var(--line);
}
header h1 { font-size: 16px; margin: 0; display: flex; align-items: center; gap: 8px; }
header h1 small { color: var(--muted); font-weight: 400; font-size: 12px; }
.logo { width: 22px; height: 22px; border-radius: 6px; background: var(--accent); display: inline-grid; place-items: center; color: var(--accent-text); font-size: 12px; font-weight: 700; }
.spacer { flex: 1; }
label.inline { margin: 0; }
.flush { margin: 0; }
.lead { margin: 0 0 10px; }
.row.below { margin-bottom: 8px; }
.row.center { align-items: center; }
#ns-form { display: flex; gap: 6px; align-items: center; }
#ns-form input { width: 150px; }
.live { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); font-size: 12.5px; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--muted); flex: none; }
.dot.ok { background: var(--ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--ok) 22%, transparent); }
.dot.bad { background: var(--danger); }
.dot.wait { background: var(--warn); }

main { max-width: 1320px; margin: 0 auto; padding: 16px 18px 40px; }
.banner { background: color-mix(in srgb, var(--danger) 12%, var(--panel)); border: 1px solid color-mix(in srgb, var(--danger) 40%, var(--line)); color: var(--text); border-radius: var(--radius); padding: 9px 13px; margin-bottom: 14px; }

#login { max-width: 420px; margin: 12vh auto 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding: 16px; min-width: 0; }
.panel h2 { font-size: 14px; margin: 0 0 12px; display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.panel h2 .count { color: var(--muted); font-weight: 400; }
.panel h2 .tools { margin-left: auto; display: flex; gap: 8px; align-items: center; font-weight: 400; }
.muted { color: var(--muted); }
.error-text { color: var(--danger); min-height: 1.4em; margin: 8px 0 0; }
.row { display: flex; gap: 8px; align-items: flex-end; flex-wrap: wrap; }
.row > .grow { flex: 1 1 160px; min-width: 0; }
.row > .fixed { flex: 0 0 auto; }
.stack > * + * { margin-top: 10px; }

.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; margin-bottom: 14px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding: 12px 14px; min-width: 0; }
.card .label { color: var(--muted); font-size: 12px; display: flex; align-items: center; gap: 6px; }
.card .value { font-size: 24px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card .sub { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.swatch { width: 10px; height: 3px; border-radius: 2px; display: inline-block; }
.swatch.in { background: var(--in); } .swatch.out { background: var(--out); } .swatch.conn { background: var(--conn); }

.layout { display: grid; grid-template-columns: minmax(0, 1.55fr) minmax(0, 1fr); gap: 14px; align-items: start; }
.column { display: grid; gap: 14px; min-width: 0; }
@media (max-width: 980px) { .layout { grid-template-columns: minmax(0, 1fr); } }

.legend { display: flex; gap: 14px; flex-wrap: wrap; color: var(--muted); font-size: 12px; margin-left: auto; font-weight: 400; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
#chart { width: 100%; height: 220px; display: block; }

.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 500; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 7px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
tr:last-child td { border-bottom: 0; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.actions { text-align: right; white-space: nowrap; }
.empty td { color: var(--muted); text-align: center; padding: 18px 8px; }
.badge { display: inline-block; font-size: 11.5px; padding: 1px 7px; border-radius: 99px; background: var(--soft); color: var(--muted); white-space: nowrap; }
.badge.on { background: color-mix(in srgb, var(--ok) 16%, transparent); color: var(--ok); }
.badge.warn { background: color-mix(in srgb, var(--danger) 16%, transparent); color: var(--danger); }
.subs { display: flex; flex-wrap: wrap; gap: 4px; }
.subs code { background: var(--soft); border-radius: 5px; padding: 0 5px; }
.preview { font-family: var(--mono); font-size: 12.5px; white-space: pre-wrap; max-height: 4.4em; overflow: hidden; }

#mqtt-url { word-break: break-all; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { display: inline-flex; align-items: center; gap: 6px; background: var(--soft); border: 1px solid var(--line); border-radius: 99px; padding: 2px 4px 2px 10px; font-family: var(--mono); font-size: 12.5px; max-width: 100%; }
.chip span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.chip button { border: 0; background: transparent; padding: 0 6px; color: var(--muted); }
hr { border: 0; border-top: 1px solid var(--line); margin: 14px 0; }
#messages { list-style: none; margin: 0; padding: 0; max-height: 420px; overflow-y: auto; border: 1px solid var(--line); border-radius: 8px; }
#messages li { padding: 7px 10px; border-bottom: 1px solid var(--line); }
#messages li:last-child { border-bottom: 0; }
#messages li.empty { color: var(--muted); text-align: center; padding: 16px; }
.msg-head { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; font-size: 12px; }
.msg-topic { font-family: var(--mono); font-weight: 600; overflow-wrap: anywhere; }
.msg-time { color: var(--muted); margin-left: auto; }
.msg-payload { font-family: var(--mono); font-size: 12.5px; white-space: pre-wrap; overflow-wrap: anywhere; margin-top: 2px; }
.check { display: inline-flex; align-items: center; gap: 6px; font-size: 13px; color: var(--text); margin: 0; }
.check input { width: auto; }

@media (max-width: 640px) {
  /* Not sticky on a phone: the screen is too short to give a row away. */
  header { position: static; padding: 8px 10px; gap: 6px; }
  header h1 small, header .spacer, #ns-form label, #live-text { display: none; }
  header h1 { flex: 1 0 100%; }
  #ns-form { flex: 1; }
  #ns-form input { width: 100%; }
  main { padding: 12px 10px 32px; }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .card { padding: 10px 12px; }
  .card .value { font-size: 20px; }
  .panel { padding: 12px; }
  /* Tables become one card per row on a phone. */
  table.stackable thead { display: none; }
  table.stackable tr { display: block; border-bottom: 1px solid var(--line); padding: 6px 0; }
  table.stackable tr:last-child { border-bottom: 0; }
  table.stackable td { display: flex; gap: 10px; border: 0; padding: 3px 4px; }
  table.stackable td::before { content: attr(data-label); color: var(--muted); font-size: 12px; flex: 0 0 92px; }
  table.stackable td.actions { justify-content: flex-end; }
  table.stackable td.actions::before { content: none; }
  table.stackable .empty td { display: block; }
}
</style>
</head>
<body>
<header>
  <h1><span class="logo">M</span> MQTT broker <small>edge-mqtt-broker __VERSION__</small></h1>
  <span class="spacer"></span>
  <form id="ns-form" hidden>
    <label for="ns-input" class="muted inline">Namespace</label>
    <input id="ns-input" autocomplete="off" spellcheck="false" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" required>
    <button type="submit" class="small">Open</button>
  </form>
  <span class="live" id="live" hidden><span class="dot wait" id="live-dot"></span><span id="live-text">connecting</span></span>
  <button id="signout" class="small" hidden>Sign out</button>
</header>

<main>
  <div id="banner" class="banner" role="alert" hidden></div>

  <section id="login" class="panel" hidden>
    <h2>Sign in</h2>
    <form id="login-form" class="stack">
      <div>
        <label for="login-token">Admin token (MQTT_ADMIN_TOKEN)</label>
        <input id="login-token" type="password" autocomplete="current-password" required>
      </div>
      <div>
        <label for="login-ns">Namespace</label>
        <input id="login-ns" value="default" autocomplete="off" spellcheck="false" required>
      </div>
      <button type="submit" class="primary" id="login-submit">Sign in</button>
      <p id="login-error" class="error-text" role="alert"></p>
      <p class="muted flush">The token stays in this tab only (sessionStorage) and is sent to this broker as a Bearer token.</p>
    </form>
  </section>

  <div id="app" hidden>
    <section class="cards" aria-label="Live numbers">
      <div class="card"><div class="label"><span class="swatch conn"></span>Connected clients</div><div class="value" id="stat-connected">–</div><div class="sub" id="stat-connected-sub">&nbsp;</div></div>
      <div class="card"><div class="label"><span class="swatch in"></span>Messages in /s</div><div class="value" id="stat-in-rate">–</div><div class="sub"><span id="stat-in-total">–</span> total</div></div>
      <div class="card"><div class="label"><span class="swatch out"></span>Messages out /s</div><div class="value" id="stat-out-rate">–</div><div class="sub"><span id="stat-out-total">–</span> total</div></div>
      <div class="card"><div class="label">Publish in / out</div><div class="value" id="stat-publish">–</div><div class="sub"><span id="stat-dropped">–</span> dropped</div></div>
      <div class="card"><div class="label">Bytes in /s</div><div class="value" id="stat-bytes-in">–</div><div class="sub" id="stat-bytes-in-total">&nbsp;</div></div>
      <div class="card"><div class="label">Bytes out /s</div><div class="value" id="stat-bytes-out">–</div><div class="sub" id="stat-bytes-out-total">&nbsp;</div></div>
      <div class="card"><div class="label">Subscriptions</div><div class="value" id="stat-subscriptions">–</div><div class="sub"><span id="stat-retained">–</span> retained</div></div>
      <div class="card"><div class="label">Uptime</div><div class="value" id="stat-uptime">–</div><div class="sub" id="stat-created">&nbsp;</div></div>
    </section>

    <div class="layout">
      <div class="column">
        <section class="panel">
          <h2>Traffic <span class="count" id="chart-span">last minute</span>
            <span class="legend"><span><i class="swatch in"></i>in /s</span><span><i class="swatch out"></i>out /s</span><span><i class="swatch conn"></i>connected</span></span>
          </h2>
          <canvas id="chart" role="img" aria-label="Messages per second and connected clients over the last minutes"></canvas>
        </section>

        <section class="panel">
          <h2>Clients <span class="count" id="clients-count"></span>
            <span class="tools"><button class="small" id="clients-refresh">Refresh</button></span>
          </h2>
          <div class="table-wrap">
            <table class="stackable">
              <thead><tr><th>Client ID</th><th>Status</th><th>Protocol</th><th>Address</th><th>Subscriptions</th><th title="QoS 1/2 messages sent and not yet acknowledged, of the window the client allows">In flight</th><th title="Messages waiting for room in the window; awaiting PUBREL: QoS 2 messages the client published">Queued</th><th>Since</th><th></th></tr></thead>
              <tbody id="clients-body"><tr class="empty"><td colspan="8">Loading…</td></tr></tbody>
            </table>
          </div>
        </section>

        <section class="panel">
          <h2>Retained messages <span class="count" id="retained-count"></span>
            <span class="tools">
              <label class="check" for="retained-sys"><input type="checkbox" id="retained-sys"> $SYS</label>
              <button class="small" id="retained-refresh">Refresh</button>
            </span>
          </h2>
          <div class="row below"><div class="grow"><input id="retained-filter" placeholder="Filter topics" aria-label="Filter topics" autocomplete="off" spellcheck="false"></div></div>
          <div class="table-wrap">
            <table class="stackable">
              <thead><tr><th>Topic</th><th>QoS</th><th>Size</th><th>Payload</th><th></th></tr></thead>
              <tbody id="retained-body"><tr class="empty"><td colspan="5">Loading…</td></tr></tbody>
            </table>
          </div>
        </section>
      </div>

      <div class="column">
        <section class="panel" id="mqtt-panel">
          <h2>MQTT client <span class="live"><span class="dot" id="mqtt-dot"></span><span id="mqtt-status">disconnected</span></span></h2>
          <p class="muted lead">Connects over WebSocket to <code id="mqtt-url"></code></p>
          <form id="mqtt-connect-form" class="stack">
            <div class="row">
              <div class="grow"><label for="mqtt-client-id">Client ID</label><input id="mqtt-client-id" autocomplete="off" spellcheck="false"></div>
              <div class="fixed"><label for="mqtt-version">Protocol</label><select id="mqtt-version"><option value="5">5.0</option><option value="4">3.1.1</option></select></div>
            </div>
            <div class="row">
              <div class="grow"><label for="mqtt-username">Username (optional)</label><input id="mqtt-username" autocomplete="off" spellcheck="false"></div>
              <div class="grow"><label for="mqtt-password">Password</label><input id="mqtt-password" type="password" autocomplete="off"></div>
            </div>
            <div class="row"><button type="submit" class="primary" id="mqtt-connect">Connect</button><span class="error-text" id="mqtt-error" role="alert"></span></div>
          </form>
          <hr>
          <form id="sub-form" class="stack">
            <div class="row">
              <div class="grow"><label for="sub-filter">Subscribe to</label><input id="sub-filter" value="#" autocomplete="off" spellcheck="false" required></div>
              <div class="fixed"><label for="sub-qos">QoS</label><select id="sub-qos"><option>0</option><option>1</option><option>2</option></select></div>
              <div class="fixed"><button type="submit" id="sub-submit" disabled>Subscribe</button></div>
            </div>
            <div class="chips" id="sub-list"></div>
          </form>
          <hr>
          <form id="pub-form" class="stack">
            <div class="row">
              <div class="grow"><label for="pub-topic">Publish to</label><input id="pub-topic" value="dashboard/test" autocomplete="off" spellcheck="false" required></div>
              <div class="fixed"><label for="pub-qos">QoS</label><select id="pub-qos"><option>0</option><option>1</option><option>2</option></select></div>
            </div>
            <div><label for="pub-payload">Payload</label><textarea id="pub-payload" spellcheck="false">hello from the dashboard</textarea></div>
            <div class="row center">
              <label class="check" for="pub-retain"><input type="checkbox" id="pub-retain"> Retain</label>
              <span class="spacer"></span>
              <button type="submit" class="primary" id="pub-submit" disabled>Publish</button>
            </div>
          </form>
          <hr>
          <h2>Messages <span class="count" id="messages-count">0</span><span class="tools"><button class="small" id="messages-clear">Clear</button></span></h2>
          <ul id="messages" aria-live="polite"><li class="empty">Subscribe to see messages here.</li></ul>
        </section>
      </div>
    </div>
  </div>
</main>

<script src="__MQTT_SRC__" nonce="__NONCE__"></script>
<script nonce="__NONCE__">
(function () {
  'use strict';
  var TOKEN_KEY = 'edge-mqtt-broker.admin-token';
  var NS_KEY = 'edge-mqtt-broker.namespace';
  var STATS_EVERY_MS = 2000;
  var LISTS_EVERY_MS = 5000;
  var CHART_SPAN_MS = 5 * 60 * 1000;
  var MAX_MESSAGES = 500;
  var NS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    ns: initialNamespace(),
    samples: [],
    statsTimer: 0,
    listsTimer: 0,
    clients: [],
    retained: [],
    mqtt: null,
    subscriptions: [],
    messages: 0
  };

  function initialNamespace() {
    var fromHash = new URLSearchParams(location.hash.slice(1)).get('ns');
    var stored = sessionStorage.getItem(NS_KEY);
    var ns = fromHash || stored || 'default';
    return NS_PATTERN.test(ns) ? ns : 'default';
  }

  // ---- formatting ---------------------------------------------------------
  var integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
  function fmtInt(n) { return integer.format(n); }
  function fmtRate(n) { return n >= 100 ? integer.format(n) : n.toFixed(n >= 10 ? 1 : 2).replace(/\\.?0+$/, '') || '0'; }
  function fmtBytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? integer.format(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i];
  }
  function fmtDuration(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }
  function fmtTime(ms) { return new Date(ms).toLocaleTimeString(); }
  function fmtSince(ms) {
    if (!ms) return '';
    return fmtDuration(Math.max(0, (Date.now() - ms) / 1000)) + ' ago';
  }
  var protocolNames = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) for (var key in props) {
      if (key === 'text') node.textContent = props[key];
      else if (key === 'class') node.className = props[key];
      else if (key.slice(0, 5) === 'data-') node.setAttribute(key, props[key]);
      else node[key] = props[key];
    }
    if (children) children.forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function cell(label, text, cls) { return el('td', { 'data-label': label, text: text == null ? '' : String(text), class: cls || '' }); }
  function setText(id, text) { var node = $(id); if (node.textContent !== text) node.textContent = text; }

  function showBanner(message) {
    var banner = $('banner');
    banner.textContent = message;
    banner.hidden = !message;
  }
  function setLive(kind, text) {
    $('live-dot').className = 'dot ' + kind;
    setText('live-text', text);
  }

  // ---- admin API ------------------------------------------------------------
  function apiPath(path) { return '/admin/' + encodeURIComponent(state.ns) + path; }

  function api(path, options) {
    options = options || {};
    var headers = { Authorization: 'Bearer ' + state.token, Accept: 'application/json' };
    return fetch(apiPath(path), { method: options.method || 'GET', headers: headers, cache: 'no-store' }).then(function (response) {
      return response.text().then(function (body) {
        var data = null;
        try { data = body ? JSON.parse(body) : null; } catch (e) { data = null; }
        if (response.status === 401) {
          signOut((data && data.error) || 'The token was refused.');
          throw new Error('unauthorized');
        }
        if (!response.ok) {
          // JSON errors from the API; plain text from the Worker (e.g. a configuration error).
          var detail = (data && data.error) || body.trim().slice(0, 300) || response.statusText;
          var error = new Error(response.status + ': ' + detail);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  // ---- sign in / out --------------------------------------------------------
  function showLogin(message) {
    $('login').hidden = false;
    $('app').hidden = true;
    $('ns-form').hidden = true;
    $('live').hidden = true;
    $('signout').hidden = true;
    $('login-ns').value = state.ns;
    $('login-error').textContent = message || '';
    $('login-token').focus();
  }

  function signOut(message) {
    stopPolling();
    state.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    showBanner('');
    showLogin(message);
  }

  $('login-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var token = $('login-token').value.trim();
    var ns = $('login-ns').value.trim() || 'default';
    if (!NS_PATTERN.test(ns)) { $('login-error').textContent = 'A namespace is 1-64 letters, digits, ".", "_" or "-".'; return; }
    $('login-submit').disabled = true;
    $('login-error').textContent = '';
    state.token = token;
    state.ns = ns;
    api('/stats').then(function (stats) {
      sessionStorage.setItem(TOKEN_KEY, token);
      $('login-token').value = '';
      startApp(stats);
    }).catch(function (error) {
      if (error.message !== 'unauthorized') $('login-error').textContent = 'Could not sign in: ' + error.message;
    }).then(function () { $('login-submit').disabled = false; });
  });

  $('signout').addEventListener('click', function () { disconnectMqtt(); signOut(''); });

  function startApp(firstStats) {
    sessionStorage.setItem(NS_KEY, state.ns);
    history.replaceState(null, '', '#ns=' + encodeURIComponent(state.ns));
    $('login').hidden = true;
    $('app').hidden = false;
    $('ns-form').hidden = false;
    $('live').hidden = false;
    $('signout').hidden = false;
    $('ns-input').value = state.ns;
    updateMqttUrl();
    state.samples = [];
    if (firstStats) addSample(firstStats);
    startPolling();
  }

  $('ns-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var ns = $('ns-input').value.trim();
    if (!NS_PATTERN.test(ns) || ns === state.ns) return;
    disconnectMqtt();
    state.ns = ns;
    clearMessages();
    startApp(null);
  });

  // ---- polling --------------------------------------------------------------
  function startPolling() {
    stopPolling();
    pollStats();
    pollLists();
  }
  function stopPolling() {
    clearTimeout(state.statsTimer);
    clearTimeout(state.listsTimer);
    state.statsTimer = 0;
    state.listsTimer = 0;
  }
  function pollStats() {
    clearTimeout(state.statsTimer);
    if (!state.token) return;
    if (document.hidden) return; // resumed by visibilitychange
    api('/stats').then(function (stats) {
      showBanner('');
      setLive('ok', 'live');
      addSample(stats);
    }).catch(function (error) {
      if (error.message === 'unauthorized') return;
      setLive('bad', 'offline');
      showBanner('Could not read namespace "' + state.ns + '": ' + error.message);
    }).then(function () {
      if (state.token) state.statsTimer = setTimeout(pollStats, STATS_EVERY_MS);
    });
  }
  function pollLists() {
    clearTimeout(state.listsTimer);
    if (!state.token || document.hidden) return;
    Promise.all([loadClients(), loadRetained()]).catch(function () {}).then(function () {
      if (state.token) state.listsTimer = setTimeout(pollLists, LISTS_EVERY_MS);
    });
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && state.token && !$('app').hidden) startPolling();
  });

  // ---- live numbers and chart ----------------------------------------------
  function addSample(stats) {
    var samples = state.samples;
    var last = samples[samples.length - 1];
    var sample = { t: stats.now, connected: stats.connected, c: stats.counters, inRate: 0, outRate: 0, bytesIn: 0, bytesOut: 0 };
    if (last && stats.now - last.t < 1000) {
      // Too close to the last sample for a meaningful rate (e.g. right after signing in).
      renderStats(stats, last, samples.length > 1);
      return;
    }
    if (last) {
      var dt = (stats.now - last.t) / 1000;
      var rate = function (name) { return Math.max(0, stats.counters[name] - last.c[name]) / dt; };
      sample.inRate = rate('messagesReceived');
      sample.outRate = rate('messagesSent');
      sample.bytesIn = rate('bytesReceived');
      sample.bytesOut = rate('bytesSent');
    }
    samples.push(sample);
    while (samples.length > 2 && samples[0].t < stats.now - CHART_SPAN_MS) samples.shift();
    renderStats(stats, sample, samples.length > 1);
    drawChart();
  }

  function renderStats(stats, sample, hasRates) {
    var c = stats.counters;
    setText('stat-connected', fmtInt(stats.connected));
    setText('stat-connected-sub', fmtInt(stats.sessions) + (stats.sessions === 1 ? ' session' : ' sessions') + ' · max ' + fmtInt(c.clientsMaximum));
    setText('stat-in-rate', hasRates ? fmtRate(sample.inRate) : '–');
    setText('stat-out-rate', hasRates ? fmtRate(sample.outRate) : '–');
    setText('stat-in-total', fmtInt(c.messagesReceived));
    setText('stat-out-total', fmtInt(c.messagesSent));
    setText('stat-publish', fmtInt(c.publishReceived) + ' / ' + fmtInt(c.publishSent));
    setText('stat-dropped', fmtInt(c.publishDropped));
    setText('stat-bytes-in', hasRates ? fmtBytes(sample.bytesIn) : '–');
    setText('stat-bytes-out', hasRates ? fmtBytes(sample.bytesOut) : '–');
    setText('stat-bytes-in-total', fmtBytes(c.bytesReceived) + ' total');
    setText('stat-bytes-out-total', fmtBytes(c.bytesSent) + ' total');
    setText('stat-subscriptions', fmtInt(stats.subscriptions));
    setText('stat-retained', fmtInt(stats.retained));
    setText('stat-uptime', fmtDuration(stats.uptimeSeconds));
    setText('stat-created', 'since ' + new Date(stats.createdAt).toLocaleDateString());
  }

  function drawChart() {
    var canvas = $('chart');
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var css = getComputedStyle(document.documentElement);
    var color = function (name) { return css.getPropertyValue(name).trim(); };
    var points = state.samples.slice(1);
    var pad = { left: 44, right: 34, top: 10, bottom: 22 };
    var plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    var last = state.samples[state.samples.length - 1];
    var end = last ? last.t : Date.now();
    // The window grows with the history kept, from one minute up to five.
    var history = state.samples.length ? end - state.samples[0].t : 0;
    var span = [60000, 120000, 180000, CHART_SPAN_MS].filter(function (s) { return s >= history; })[0] || CHART_SPAN_MS;
    var tick = span <= 60000 ? 15000 : span <= 120000 ? 30000 : 60000;
    setText('chart-span', span === 60000 ? 'last minute' : 'last ' + span / 60000 + ' minutes');
    var start = end - span;
    var maxRate = niceCeil(Math.max(1, Math.max.apply(null, points.map(function (p) { return Math.max(p.inRate, p.outRate); }).concat([0]))));
    // Whole clients on the right axis: a multiple of the four grid steps.
    var maxConn = Math.ceil(niceCeil(Math.max(1, Math.max.apply(null, state.samples.map(function (p) { return p.connected; }).concat([0])))) / 4) * 4;
    var x = function (t) { return pad.left + (t - start) / span * plotW; };
    var yRate = function (v) { return pad.top + plotH - v / maxRate * plotH; };
    var yConn = function (v) { return pad.top + plotH - v / maxConn * plotH; };

    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = color('--line');
    ctx.fillStyle = color('--muted');
    ctx.textBaseline = 'middle';
    for (var i = 0; i <= 4; i++) {
      var gy = Math.round(pad.top + plotH * i / 4) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.left, gy); ctx.lineTo(width - pad.right, gy); ctx.stroke();
      ctx.textAlign = 'right';
      ctx.fillText(fmtRate(maxRate * (4 - i) / 4), pad.left - 6, gy);
      ctx.textAlign = 'left';
      ctx.fillText(fmtInt(maxConn * (4 - i) / 4), width - pad.right + 6, gy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'alphabetic';
    for (var ago = span; ago >= 0; ago -= tick) {
      var label = ago === 0 ? 'now' : '-' + (ago % 60000 === 0 ? ago / 60000 + 'm' : ago / 1000 + 's');
      ctx.fillText(label, x(end - ago), height - 6);
    }
    if (points.length === 0) {
      ctx.fillText('collecting…', pad.left + plotW / 2, pad.top + plotH / 2);
      return;
    }
    var line = function (values, y, stroke, step) {
      ctx.strokeStyle = stroke;
      ctx.lineWidth = 2;
      ctx.lineJoin = 'round';
      ctx.beginPath();
      values.forEach(function (p, index) {
        var px = x(p.t), py = y(p.v);
        if (index === 0) ctx.moveTo(px, py);
        else if (step) { ctx.lineTo(px, y(values[index - 1].v)); ctx.lineTo(px, py); }
        else ctx.lineTo(px, py);
      });
      ctx.stroke();
    };
    line(state.samples.map(function (p) { return { t: p.t, v: p.connected }; }), yConn, color('--conn'), true);
    line(points.map(function (p) { return { t: p.t, v: p.inRate }; }), yRate, color('--in'), false);
    line(points.map(function (p) { return { t: p.t, v: p.outRate }; }), yRate, color('--out'), false);
  }
  function niceCeil(value) {
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }
  window.addEventListener('resize', drawChart);

  // ---- clients --------------------------------------------------------------
  function loadClients() {
    return api('/clients?limit=500').then(function (data) {
      state.clients = data.clients;
      renderClients(data);
    }).catch(function (error) { if (error.message !== 'unauthorized') throw error; });
  }
  function renderClients(data) {
    var body = $('clients-body');
    var online = data.clients.filter(function (c) { return c.connected; }).length;
    var sessions = data.clients.length;
    setText('clients-count', online + ' online · ' + sessions + (data.truncated ? '+' : '') + (sessions === 1 ? ' session' : ' sessions'));
    var rows = data.clients.map(function (client) {
      var subs = el('div', { class: 'subs' }, client.subscriptions.map(function (s) { return el('code', { text: s.filter + (s.qos ? ' (' + s.qos + ')' : '') }); }));
      if (client.subscriptions.length === 0) subs.appendChild(el('span', { class: 'muted', text: 'none' }));
      var badges = [el('span', { class: client.connected ? 'badge on' : 'badge', text: client.connected ? 'online' : 'offline' })];
      // A queue with room in the window that does not move: the broker's own watchdog says so.
      if (client.stalledSince) badges.push(el('span', { class: 'badge warn', text: 'stalled ' + fmtDuration(Math.max(0, (Date.now() - client.stalledSince) / 1000)), title: 'queued messages and room in the in-flight window' }));
      var status = el('td', { 'data-label': 'Status' }, badges);
      var subsCell = el('td', { 'data-label': 'Subscriptions' }, [subs]);
      var actions = el('td', { class: 'actions' });
      if (client.connected) {
        var button = el('button', { class: 'small danger', text: 'Disconnect', type: 'button' });
        button.setAttribute('data-client', client.clientId);
        button.addEventListener('click', function () { disconnectClient(client.clientId, button); });
        actions.appendChild(button);
      }
      var address = client.remoteAddress ? client.remoteAddress + (client.bridged ? ' (TCP)' : '') : '';
      return el('tr', null, [
        cell('Client ID', client.clientId, 'mono'),
        status,
        cell('Protocol', protocolNames[client.protocolLevel] || ''),
        cell('Address', address, 'mono'),
        subsCell,
        cell('In flight', client.connected && client.receiveMaximum ? client.inflight + ' / ' + client.receiveMaximum : String(client.inflight), 'num'),
        cell('Queued', client.queued + (client.awaitingRel ? ' · ' + client.awaitingRel + ' awaiting PUBREL' : ''), 'num'),
        cell('Since', client.connected ? fmtSince(client.connectedAt) : '', 'num'),
        actions
      ]);
    });
    if (rows.length === 0) rows = [el('tr', { class: 'empty' }, [el('td', { colSpan: 9, text: 'No clients yet.' })])];
    body.replaceChildren.apply(body, rows);
  }
  function disconnectClient(clientId, button) {
    if (!confirm('Disconnect client "' + clientId + '"?')) return;
    button.disabled = true;
    api('/clients/' + encodeURIComponent(clientId) + '/disconnect', { method: 'POST' })
      .catch(function (error) { if (error.message !== 'unauthorized') showBanner('Disconnect failed: ' + error.message); })
      .then(function () { loadClients(); });
  }
  $('clients-refresh').addEventListener('click', function () { loadClients().catch(function (e) { showBanner(e.message); }); });

  // ---- retained -------------------------------------------------------------
  function loadRetained() {
    return api('/retained?limit=1000').then(function (data) {
      state.retained = data.retained;
      state.retainedTruncated = data.truncated;
      renderRetained();
    }).catch(function (error) { if (error.message !== 'unauthorized') throw error; });
  }
  function renderRetained() {
    var filter = $('retained-filter').value.trim().toLowerCase();
    var showSys = $('retained-sys').checked;
    var list = state.retained.filter(function (m) {
      if (!showSys && m.topic.slice(0, 4) === '$SYS') return false;
      return !filter || m.topic.toLowerCase().indexOf(filter) !== -1;
    }).sort(function (a, b) { return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0; });
    setText('retained-count', list.length + (state.retainedTruncated ? '+' : '') + ' shown');
    var rows = list.map(function (message) {
      var button = el('button', { class: 'small danger', text: 'Delete', type: 'button' });
      button.setAttribute('data-topic', message.topic);
      button.addEventListener('click', function () { deleteRetained(message.topic, button); });
      var preview = el('td', { 'data-label': 'Payload' }, [el('div', { class: 'preview', text: message.payloadPreview + (message.payloadBytes > 200 ? '…' : '') })]);
      return el('tr', null, [
        cell('Topic', message.topic, 'mono'),
        cell('QoS', message.qos, 'num'),
        cell('Size', fmtBytes(message.payloadBytes), 'num'),
        preview,
        el('td', { class: 'actions' }, [button])
      ]);
    });
    if (rows.length === 0) rows = [el('tr', { class: 'empty' }, [el('td', { colSpan: 5, text: state.retained.length ? 'No topic matches.' : 'No retained messages.' })])];
    var body = $('retained-body');
    body.replaceChildren.apply(body, rows);
  }
  function deleteRetained(topic, button) {
    if (!confirm('Delete the retained message on "' + topic + '"?')) return;
    button.disabled = true;
    api('/retained?topic=' + encodeURIComponent(topic), { method: 'DELETE' })
      .catch(function (error) { if (error.message !== 'unauthorized') showBanner('Delete failed: ' + error.message); })
      .then(function () { loadRetained(); });
  }
  $('retained-filter').addEventListener('input', renderRetained);
  $('retained-sys').addEventListener('change', renderRetained);
  $('retained-refresh').addEventListener('click', function () { loadRetained().catch(function (e) { showBanner(e.message); }); });

  // ---- the built-in MQTT client ---------------------------------------------
  function mqttUrl() {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    return scheme + location.host + (state.ns === 'default' ? '/mqtt' : '/mqtt/' + encodeURIComponent(state.ns));
  }
  function updateMqttUrl() { setText('mqtt-url', mqttUrl()); }
  $('mqtt-client-id').value = 'dashboard-' + Math.random().toString(16).slice(2, 8);

  function setMqttState(kind, text) {
    $('mqtt-dot').className = 'dot ' + kind;
    setText('mqtt-status', text);
    var connected = kind === 'ok';
    $('sub-submit').disabled = !connected;
    $('pub-submit').disabled = !connected;
    $('mqtt-connect').textContent = state.mqtt ? 'Disconnect' : 'Connect';
    ['mqtt-client-id', 'mqtt-version', 'mqtt-username', 'mqtt-password'].forEach(function (id) { $(id).disabled = !!state.mqtt; });
  }

  $('mqtt-connect-form').addEventListener('submit', function (event) {
    event.preventDefault();
    if (state.mqtt) { disconnectMqtt(); return; }
    connectMqtt();
  });

  function connectMqtt() {
    if (typeof mqtt === 'undefined') { $('mqtt-error').textContent = 'MQTT.js did not load.'; return; }
    $('mqtt-error').textContent = '';
    var options = {
      clientId: $('mqtt-client-id').value.trim() || ('dashboard-' + Math.random().toString(16).slice(2, 8)),
      protocolVersion: Number($('mqtt-version').value),
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0,
      connectTimeout: 10000
    };
    var username = $('mqtt-username').value;
    if (username) { options.username = username; options.password = $('mqtt-password').value; }
    var client = mqtt.connect(mqttUrl(), options);
    state.mqtt = client;
    setMqttState('wait', 'connecting…');
    client.on('connect', function () {
      setMqttState('ok', 'connected as ' + options.clientId);
      // Resubscribe what the list shows (after a namespace switch or a reconnect).
      state.subscriptions.forEach(function (s) { client.subscribe(s.filter, { qos: s.qos }); });
    });
    client.on('message', function (topic, payload, packet) { addMessage(topic, payload, packet); });
    client.on('error', function (error) { $('mqtt-error').textContent = error.message; });
    client.on('disconnect', function (packet) {
      $('mqtt-error').textContent = 'The broker disconnected this client' + (packet && packet.reasonCode ? ' (reason 0x' + packet.reasonCode.toString(16) + ')' : '') + '.';
    });
    client.on('close', function () {
      if (state.mqtt !== client) return;
      state.mqtt = null;
      client.end(true);
      setMqttState('', 'disconnected');
    });
  }

  function disconnectMqtt() {
    var client = state.mqtt;
    if (!client) return;
    state.mqtt = null;
    client.end(false);
    setMqttState('', 'disconnected');
  }

  $('sub-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var client = state.mqtt;
    var filter = $('sub-filter').value.trim();
    var qos = Number($('sub-qos').value);
    if (!client || !filter) return;
    client.subscribe(filter, { qos: qos }, function (error, granted) {
      var grant = granted && granted[0];
      if (error || !grant || grant.qos >= 128) {
        $('mqtt-error').textContent = 'Subscription to "' + filter + '" refused' + (error ? ': ' + error.message : grant ? ' (0x' + grant.qos.toString(16) + ')' : '') + '.';
        return;
      }
      $('mqtt-error').textContent = '';
      state.subscriptions = state.subscriptions.filter(function (s) { return s.filter !== filter; }).concat([{ filter: filter, qos: grant.qos }]);
      renderSubscriptions();
    });
  });

  function renderSubscriptions() {
    var list = $('sub-list');
    list.replaceChildren.apply(list, state.subscriptions.map(function (s) {
      var remove = el('button', { type: 'button', text: '×', title: 'Unsubscribe' });
      remove.setAttribute('aria-label', 'Unsubscribe from ' + s.filter);
      remove.addEventListener('click', function () {
        if (state.mqtt) state.mqtt.unsubscribe(s.filter);
        state.subscriptions = state.subscriptions.filter(function (other) { return other.filter !== s.filter; });
        renderSubscriptions();
      });
      return el('span', { class: 'chip', title: s.filter }, [el('span', { text: s.filter + ' · QoS ' + s.qos }), remove]);
    }));
  }

  $('pub-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var client = state.mqtt;
    var topic = $('pub-topic').value.trim();
    if (!client || !topic) return;
    var button = $('pub-submit');
    button.disabled = true;
    client.publish(topic, $('pub-payload').value, { qos: Number($('pub-qos').value), retain: $('pub-retain').checked }, function (error) {
      button.disabled = !state.mqtt;
      $('mqtt-error').textContent = error ? 'Publish failed: ' + error.message : '';
      if (!error && $('pub-retain').checked) setTimeout(function () { loadRetained().catch(function () {}); }, 300);
    });
  });

  var utf8 = new TextDecoder('utf-8', { fatal: true });
  function payloadText(payload) {
    try { return utf8.decode(payload); } catch (e) {
      var hex = Array.prototype.map.call(payload.subarray(0, 256), function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join(' ');
      return '<' + payload.length + ' bytes> ' + hex + (payload.length > 256 ? ' …' : '');
    }
  }

  function addMessage(topic, payload, packet) {
    var list = $('messages');
    var empty = list.querySelector('.empty');
    if (empty) empty.remove();
    var text = payloadText(payload);
    if (text.length > 4000) text = text.slice(0, 4000) + ' …';
    var badges = [el('span', { class: 'badge', text: 'QoS ' + packet.qos })];
    if (packet.retain) badges.push(el('span', { class: 'badge', text: 'retained' }));
    var item = el('li', null, [
      el('div', { class: 'msg-head' }, [el('span', { class: 'msg-topic', text: topic })].concat(badges).concat([el('span', { class: 'msg-time', text: fmtTime(Date.now()) })])),
      el('div', { class: 'msg-payload', text: text })
    ]);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > MAX_MESSAGES) list.lastChild.remove();
    state.messages++;
    setText('messages-count', fmtInt(state.messages));
  }
  function clearMessages() {
    state.messages = 0;
    setText('messages-count', '0');
    var list = $('messages');
    list.replaceChildren(el('li', { class: 'empty', text: 'Subscribe to see messages here.' }));
  }
  $('messages-clear').addEventListener('click', clearMessages);

  setMqttState('', 'disconnected');

  // ---- start ----------------------------------------------------------------
  if (state.token) {
    api('/stats').then(startApp).catch(function (error) {
      if (error.message !== 'unauthorized') { startApp(null); showBanner('Could not read namespace "' + state.ns + '": ' + error.message); }
    });
  } else {
    showLogin('');
  }
})();
</script>
</body>
</html>
`;
