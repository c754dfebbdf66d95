/**
 * The client side of scripts/stack-check.sh: real clients against the stack
 * `npm start` runs. Phase `behaviour`: MQTT.js at levels 3, 4 and 5 over
 * WebSocket (QoS 0/1/2 in order, a takeover), mosquitto_pub/sub through the
 * sidecar both ways, Python paho over TCP and WebSocket at three levels,
 * 100 WebSocket clients and how they spread over the gateways, then 20 QoS 1
 * messages acknowledged for an offline persistent subscriber. Phase
 * `after-kill`: that subscriber, after kill -9 of the whole stack and a
 * restart, resumes its session and gets all 20.
 */
import mqtt from 'mqtt';
import { execFileSync, spawn } from 'node:child_process';
const [, , phase, wsPort, tcpPort, token, gatewaysArg = '4'] = process.argv;
const gateways = Number(gatewaysArg);
const ws = `ws://127.0.0.1:${wsPort}/mqtt`;
const connect = (url, opts) => new Promise((res, rej) => { const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts }); c.once('connect', (ack) => res(Object.assign(c, { ack }))); c.once('error', rej); });
const waitMsg = (c, n, ms = 5000) => new Promise((res, rej) => { const got = []; const t = setTimeout(() => rej(new Error(`timeout, got ${got.length}`)), ms); c.on('message', (topic, p) => { got.push(p.toString()); if (got.length >= n) { clearTimeout(t); res(got); } }); });
const sub = (c, f, qos = 1) => new Promise((r, j) => c.subscribe(f, { qos }, (e, g) => (e ? j(e) : r(g))));
const pub = (c, t, p, qos = 1) => new Promise((r, j) => c.publish(t, p, { qos }, (e) => (e ? j(e) : r())));
const ok = (what) => console.log('OK', what);
if (phase === 'behaviour') {
  for (const [name, o] of [['3.1', { protocolId: 'MQIsdp', protocolVersion: 3 }], ['3.1.1', { protocolVersion: 4 }], ['5.0', { protocolVersion: 5 }]]) {
    const s = await connect(ws, { ...o, clientId: `s-${name}` });
    const p = await connect(ws, { ...o, clientId: `p-${name}` });
    await sub(s, `lv/${name}/#`, 2);
    const w = waitMsg(s, 3);
    for (const q of [0, 1, 2]) await pub(p, `lv/${name}/x`, `q${q}`, q);
    const got = await w;
    if (got.join() !== 'q0,q1,q2') throw new Error(`${name}: ${got}`);
    // A takeover (with gateways, most likely across two of them).
    const t1 = await connect(ws, { ...o, clientId: `take-${name}` });
    const closed = new Promise((r) => t1.once('close', r));
    let reason; t1.on('disconnect', (pk) => (reason = pk.reasonCode));
    await connect(ws, { ...o, clientId: `take-${name}` });
    await closed;
    ok(`MQTT.js ${name} over WebSocket: QoS 0/1/2 in order; takeover closed the old one${name === '5.0' ? ` with DISCONNECT 0x${(reason ?? 0).toString(16)}` : ''}`);
    s.end(true); p.end(true);
  }
  // mosquitto clients through the sidecar, both directions with an MQTT.js WS client
  for (const v of ['mqttv311', 'mqttv5', 'mqttv31']) {
    const wsSub = await connect(ws, { protocolVersion: 4, clientId: `wsub-${v}` });
    await sub(wsSub, `mos/${v}`);
    const w = waitMsg(wsSub, 1);
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', tcpPort, '-V', v, '-q', '1', '-t', `mos/${v}`, '-m', `from-${v}`]);
    const got = await w;
    ok(`mosquitto_pub ${v} (TCP, sidecar) → MQTT.js (WebSocket): ${got}`);
    wsSub.end(true);
  }
  for (const v of ['mqttv311', 'mqttv5']) {
    const child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', tcpPort, '-V', v, '-q', '1', '-t', `back/${v}`, '-C', '1', '-W', '10']);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.on('exit', r));
    // subscribed once the edge lists the subscription
    for (let i = 0; i < 100; i++) {
      const subs = await (await fetch(`http://127.0.0.1:${wsPort}/admin/default/subscriptions`, { headers: { Authorization: `Bearer ${token}` } })).json();
      if (subs.subscriptions.some((x) => x.filter === `back/${v}`)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const p = await connect(ws, { protocolVersion: 5, clientId: `wpub-${v}` });
    await pub(p, `back/${v}`, `to-${v}`);
    await exited;
    if (out.trim() !== `to-${v}`) throw new Error(`mosquitto_sub ${v} got "${out}"`);
    ok(`MQTT.js (WebSocket) → mosquitto_sub ${v} (TCP, sidecar): ${out.trim()}`);
    p.end(true);
  }
  // paho over TCP and over WebSocket: Debian's python3 has python3-paho-mqtt, another python3 on PATH may not.
  const python = ['/usr/bin/python3', 'python3'].find((candidate) => { try { execFileSync(candidate, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' }); return true; } catch { return false; } }) ?? 'python3';
  const paho = `
import paho.mqtt.client as mqtt, sys, time
transport, port, level = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
got = []
proto = {3: mqtt.MQTTv31, 4: mqtt.MQTTv311, 5: mqtt.MQTTv5}[level]
def mk(cid):
    c = mqtt.Client(client_id=cid, protocol=proto, transport=transport)
    if transport == 'websockets': c.ws_set_options(path='/mqtt')
    return c
s = mk('paho-s-%s-%d' % (transport, level)); s.on_message = lambda c, u, m: got.append(m.payload.decode())
s.connect('127.0.0.1', port); s.loop_start(); time.sleep(0.5); s.subscribe('paho/%s/%d' % (transport, level), qos=1); time.sleep(0.5)
p = mk('paho-p-%s-%d' % (transport, level)); p.connect('127.0.0.1', port); p.loop_start(); time.sleep(0.3)
p.publish('paho/%s/%d' % (transport, level), 'hello', qos=1).wait_for_publish(); time.sleep(1)
print(got); sys.exit(0 if got == ['hello'] else 1)
`;
  for (const [transport, port] of [['tcp', tcpPort], ['websockets', wsPort]]) for (const level of [3, 4, 5]) {
    execFileSync(python, ['-c', paho, transport, port, String(level)], { encoding: 'utf8' });
    ok(`paho ${transport} level ${level}`);
  }
  // 100 WebSocket clients: spread over the gateways
  const many = await Promise.all(Array.from({ length: 100 }, (_, i) => connect(ws, { protocolVersion: 4, clientId: `many-${i}` })));
  const stats = await (await fetch(`http://127.0.0.1:${wsPort}/admin/default/stats`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const gws = stats.objects.filter((o) => o.role === 'gateway' && o.connections > 0);
  console.log(stats.objects.map((o) => `${o.role} ${o.name}: ${o.connections}`).join('\n'));
  if (gateways > 1) {
    if (gws.length < Math.min(3, gateways)) throw new Error(`only ${gws.length} of ${gateways} gateways used`);
    ok(`100 WebSocket clients over ${gws.length} gateways`);
  } else {
    const core = stats.objects.find((o) => o.role === 'core');
    if (gws.length > 0 || core?.connections < 100) throw new Error('with one object, its core holds every client');
    ok('100 WebSocket clients on the namespace\'s one object');
  }
  many.forEach((c) => c.end(true));
  // offline persistent subscriber with acknowledged QoS 1 messages, then kill -9
  const sleeper = await connect(ws, { protocolVersion: 4, clientId: 'sleeper', clean: false });
  await sub(sleeper, 'persist/#', 1);
  await new Promise((r) => sleeper.end(false, {}, r));
  const p = await connect(ws, { protocolVersion: 5, clientId: 'persist-pub' });
  for (let i = 0; i < 20; i++) await pub(p, 'persist/x', `m${i}`, 1);
  ok('20 QoS 1 messages acknowledged for the offline persistent subscriber');
  process.exit(0);
}
if (phase === 'after-kill') {
  // Listening before CONNACK: the queued messages follow it at once.
  const got = [];
  const sleeper = mqtt.connect(ws, { protocolVersion: 4, clientId: 'sleeper', clean: false, reconnectPeriod: 0 });
  let present;
  sleeper.on('connect', (ack) => (present = ack.sessionPresent));
  sleeper.on('message', (_t, p) => got.push(p.toString()));
  for (let i = 0; i < 100 && got.length < 20; i++) await new Promise((r) => setTimeout(r, 100));
  if (got.length !== 20) throw new Error(`got ${got.length}`);
  if (!present) throw new Error('no session present');
  ok(`after kill -9 and restart: session present, got ${got.length}: ${got.slice(0, 3).join(',')}…${got.at(-1)}`);
  process.exit(0);
}
