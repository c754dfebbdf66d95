// The page's own MQTT client over WebSocket to this origin: connect,
// subscribe, publish, watch messages. MQTT.js is loaded on the first
// Connect (it is most of the page's weight), from the copy the build put
// among the Worker's assets.
import { session } from './api.js';
import { $, el, setText } from './dom.js';
import { fmtInt, fmtTime } from './format.js';

const MaxMessages = 500;
const state = { client: null, subscriptions: [], messages: 0, onRetainedChange: () => {} };
let mqttModule;

function loadMqtt() {
  // Not a literal: the type checker would read all of minified MQTT.js.
  const path = './vendor/mqtt.esm.js';
  mqttModule ??= import(path).then((module) => module.default);
  return mqttModule;
}

export function mqttUrl() {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  return scheme + location.host + (session.ns === 'default' ? '/mqtt' : '/mqtt/' + encodeURIComponent(session.ns));
}

export function updateMqttUrl() {
  setText('mqtt-url', mqttUrl());
}

function randomClientId() {
  return 'dashboard-' + Math.random().toString(16).slice(2, 8);
}

function setMqttState(kind, text) {
  $('mqtt-dot').className = 'dot ' + kind;
  setText('mqtt-status', text);
  const connected = kind === 'ok';
  $('sub-submit').disabled = !connected;
  $('pub-submit').disabled = !connected;
  $('mqtt-connect').textContent = state.client ? 'Disconnect' : 'Connect';
  for (const id of ['mqtt-client-id', 'mqtt-version', 'mqtt-username', 'mqtt-password']) $(id).disabled = !!state.client;
}

async function connectMqtt() {
  $('mqtt-error').textContent = '';
  setMqttState('wait', 'loading MQTT.js…');
  let mqtt;
  try {
    mqtt = await loadMqtt();
  } catch (error) {
    mqttModule = undefined;
    setMqttState('', 'disconnected');
    $('mqtt-error').textContent = 'MQTT.js did not load: ' + error.message;
    return;
  }
  const options = {
    clientId: $('mqtt-client-id').value.trim() || randomClientId(),
    protocolVersion: Number($('mqtt-version').value),
    clean: true,
    keepalive: 30,
    reconnectPeriod: 0,
    connectTimeout: 10000,
  };
  const username = $('mqtt-username').value;
  if (username) {
    options.username = username;
    options.password = $('mqtt-password').value;
  }
  const client = mqtt.connect(mqttUrl(), options);
  state.client = client;
  setMqttState('wait', 'connecting…');
  client.on('connect', () => {
    setMqttState('ok', 'connected as ' + options.clientId);
    // Resubscribe what the list shows (after a namespace switch or a reconnect).
    for (const s of state.subscriptions) client.subscribe(s.filter, { qos: s.qos });
  });
  client.on('message', (topic, payload, packet) => addMessage(topic, payload, packet));
  client.on('error', (error) => {
    $('mqtt-error').textContent = error.message;
  });
  client.on('disconnect', (packet) => {
    $('mqtt-error').textContent = 'The broker disconnected this client' + (packet && packet.reasonCode ? ' (reason 0x' + packet.reasonCode.toString(16) + ')' : '') + '.';
  });
  client.on('close', () => {
    if (state.client !== client) return;
    state.client = null;
    client.end(true);
    setMqttState('', 'disconnected');
  });
}

export function disconnectMqtt() {
  const client = state.client;
  if (!client) return;
  state.client = null;
  client.end(false);
  setMqttState('', 'disconnected');
}

function subscribe(event) {
  event.preventDefault();
  const client = state.client;
  const filter = $('sub-filter').value.trim();
  const qos = Number($('sub-qos').value);
  if (!client || !filter) return;
  client.subscribe(filter, { qos }, (error, granted) => {
    const grant = granted && granted[0];
    if (error || !grant || grant.qos >= 128) {
      $('mqtt-error').textContent = 'Subscription to "' + filter + '" refused' + (error ? ': ' + error.message : grant ? ' (0x' + grant.qos.toString(16) + ')' : '') + '.';
      return;
    }
    $('mqtt-error').textContent = '';
    state.subscriptions = state.subscriptions.filter((s) => s.filter !== filter).concat([{ filter, qos: grant.qos }]);
    renderSubscriptions();
  });
}

function renderSubscriptions() {
  $('sub-list').replaceChildren(
    ...state.subscriptions.map((s) => {
      const remove = el('button', { type: 'button', text: '×', title: 'Unsubscribe', 'aria-label': 'Unsubscribe from ' + s.filter });
      remove.addEventListener('click', () => {
        if (state.client) state.client.unsubscribe(s.filter);
        state.subscriptions = state.subscriptions.filter((other) => other.filter !== s.filter);
        renderSubscriptions();
      });
      return el('span', { class: 'chip', title: s.filter }, [el('span', { text: s.filter + ' · QoS ' + s.qos }), remove]);
    }),
  );
}

function publish(event) {
  event.preventDefault();
  const client = state.client;
  const topic = $('pub-topic').value.trim();
  if (!client || !topic) return;
  const submit = $('pub-submit');
  submit.disabled = true;
  const retain = $('pub-retain').checked;
  client.publish(topic, $('pub-payload').value, { qos: Number($('pub-qos').value), retain }, (error) => {
    submit.disabled = !state.client;
    $('mqtt-error').textContent = error ? 'Publish failed: ' + error.message : '';
    if (!error && retain) state.onRetainedChange();
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function payloadText(payload) {
  try {
    return utf8.decode(payload);
  } catch {
    const hex = Array.prototype.map.call(payload.subarray(0, 256), (b) => (b < 16 ? '0' : '') + b.toString(16)).join(' ');
    return '<' + payload.length + ' bytes> ' + hex + (payload.length > 256 ? ' …' : '');
  }
}

function addMessage(topic, payload, packet) {
  const list = $('messages');
  const empty = list.querySelector('.empty');
  if (empty) empty.remove();
  let text = payloadText(payload);
  if (text.length > 4000) text = text.slice(0, 4000) + ' …';
  const badges = [el('span', { class: 'badge', text: 'QoS ' + packet.qos })];
  if (packet.retain) badges.push(el('span', { class: 'badge', text: 'retained' }));
  const item = el('li', null, [
    el('div', { class: 'msg-head' }, [el('span', { class: 'msg-topic', text: topic }), ...badges, el('span', { class: 'msg-time', text: fmtTime(Date.now()) })]),
    el('div', { class: 'msg-payload', text }),
  ]);
  list.insertBefore(item, list.firstChild);
  while (list.children.length > MaxMessages) list.lastChild.remove();
  state.messages++;
  setText('messages-count', fmtInt(state.messages));
}

export function clearMessages() {
  state.messages = 0;
  setText('messages-count', '0');
  $('messages').replaceChildren(el('li', { class: 'empty', text: 'Subscribe to see messages here.' }));
}

export function setupMqttClient(onRetainedChange) {
  state.onRetainedChange = onRetainedChange;
  $('mqtt-client-id').value = randomClientId();
  $('mqtt-connect-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (state.client) disconnectMqtt();
    else connectMqtt();
  });
  $('sub-form').addEventListener('submit', subscribe);
  $('pub-form').addEventListener('submit', publish);
  $('messages-clear').addEventListener('click', clearMessages);
  setMqttState('', 'disconnected');
}
