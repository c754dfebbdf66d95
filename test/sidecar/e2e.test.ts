/**
 * End to end through the real edge (the Worker on workerd): devices on TCP
 * through the sidecar talk to clients on WebSocket, with real clients:
 * mosquitto_pub/mosquitto_sub (3.1, 3.1.1, 5.0), Python paho-mqtt and MQTT.js.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, publish, sleep, subscribe, type TestClient } from '../helpers/mqtt-clients.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { closedPort, connectDevice, connectPacket, startTestSidecar, waitUntil, type TestSidecar } from './harness.ts';
import { uniqueNames } from '../helpers/names.ts';

const SECRET = 'e2e-bridge-secret';
const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
/** Debian's python3 (python3-paho-mqtt); another python3 on PATH may lack paho. */
const PYTHON = ['/usr/bin/python3', 'python3'].find((python) => spawnSync(python, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' }).status === 0);
const hasMosquitto = existsSync(MOSQUITTO_PUB) && existsSync(MOSQUITTO_SUB);

let edge: TestEdge;
let bridge: TestSidecar;
let tcpUrl: string;
const extraSidecars: TestSidecar[] = [];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: SECRET });
  bridge = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: SECRET });
  tcpUrl = `mqtt://127.0.0.1:${bridge.sidecar.tcpPort}`;
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all([bridge, ...extraSidecars].map((s) => s?.sidecar.close()));
  await edge?.dispose();
});

const unique = uniqueNames();

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Child {
  process: ChildProcess;
  stdout(): string;
  /** Resolves once stdout contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  finished: Promise<Finished>;
}

/** Line-buffers a C program's stdout into a pipe (it execs the program: same pid). */
const STDBUF = existsSync('/usr/bin/stdbuf') ? '/usr/bin/stdbuf' : undefined;

function run(command: string, args: string[]): Child {
  const child = STDBUF === undefined ? spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(STDBUF, ['-oL', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = new Promise<Finished>((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    process: child,
    stdout: () => stdout,
    waitFor: (text, timeoutMs = 10_000) => waitUntil(() => stdout.includes(text), `"${text}" from ${command} (stdout: ${stdout}, stderr: ${stderr})`, timeoutMs),
    finished,
  };
}

const levels: Array<{ name: string; mosquitto: string; options: IClientOptions }> = [
  { name: '3.1', mosquitto: 'mqttv31', options: { protocolVersion: 3, protocolId: 'MQIsdp' } },
  { name: '3.1.1', mosquitto: 'mqttv311', options: { protocolVersion: 4 } },
  { name: '5.0', mosquitto: 'mqttv5', options: { protocolVersion: 5 } },
];

describe.each(levels)('MQTT.js $name over TCP', ({ options }) => {
  it('TCP publisher → WebSocket subscriber and WebSocket publisher → TCP subscriber, at QoS 0, 1 and 2', async () => {
    const topic = unique('mqttjs');
    const tcp = await connectClient(tcpUrl, { ...options, clientId: unique('tcp') });
    const ws = await connectClient(edge.mqttUrl, { ...options, clientId: unique('ws') });
    await subscribe(ws.client, `${topic}/to-ws`, { qos: 2 });
    await subscribe(tcp.client, `${topic}/to-tcp`, { qos: 2 });
    for (const qos of [0, 1, 2] as const) {
      await publish(tcp.client, `${topic}/to-ws`, `tcp-q${qos}`, { qos });
      await publish(ws.client, `${topic}/to-tcp`, `ws-q${qos}`, { qos });
    }
    const toWs = await ws.waitForMessages(3);
    const toTcp = await tcp.waitForMessages(3);
    expect(toWs.map((m) => [m.payload, m.packet.qos])).toEqual([['tcp-q0', 0], ['tcp-q1', 1], ['tcp-q2', 2]]);
    expect(toTcp.map((m) => [m.payload, m.packet.qos])).toEqual([['ws-q0', 0], ['ws-q1', 1], ['ws-q2', 2]]);
    await Promise.all([tcp.end(), ws.end()]);
  });
});

describe.skipIf(!hasMosquitto).each(levels)('mosquitto clients at $name', ({ mosquitto, options }) => {
  const port = (): string => String(bridge.sidecar.tcpPort);

  it('mosquitto_pub over TCP reaches a WebSocket subscriber at QoS 0, 1 and 2', async () => {
    const topic = unique('mospub');
    const ws = await connectClient(edge.mqttUrl, { ...options, clientId: unique('ws') });
    await subscribe(ws.client, topic, { qos: 2 });
    for (const qos of ['0', '1', '2']) {
      const result = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', port(), '-V', mosquitto, '-i', unique('mp'), '-t', topic, '-q', qos, '-m', `mosquitto-q${qos}`]).finished;
      expect(result.code, result.stderr).toBe(0);
    }
    const messages = await ws.waitForMessages(3);
    expect(messages.map((m) => [m.payload, m.packet.qos])).toEqual([['mosquitto-q0', 0], ['mosquitto-q1', 1], ['mosquitto-q2', 2]]);
    await ws.end();
  });

  it('mosquitto_sub over TCP receives from a WebSocket publisher at QoS 2', async () => {
    const topic = unique('mossub');
    const sub = run(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', port(), '-V', mosquitto, '-i', unique('ms'), '-t', topic, '-q', '2', '-C', '3', '-W', '20', '-d']);
    await sub.waitFor('SUBACK');
    const ws = await connectClient(edge.mqttUrl, { ...options, clientId: unique('ws') });
    for (const qos of [0, 1, 2] as const) await publish(ws.client, topic, `ws-q${qos}`, { qos });
    const result = await sub.finished;
    expect(result.code, result.stderr).toBe(0);
    const payloads = result.stdout.split('\n').filter((line) => line.startsWith('ws-q'));
    expect(payloads).toEqual(['ws-q0', 'ws-q1', 'ws-q2']);
    await ws.end();
  });

  it('publishes the will of a mosquitto_sub killed with SIGKILL', async () => {
    const willTopic = unique('will');
    const watcher = await connectClient(edge.mqttUrl, { ...options, clientId: unique('watch') });
    await subscribe(watcher.client, willTopic, { qos: 1 });
    const device = run(MOSQUITTO_SUB, [
      '-h', '127.0.0.1', '-p', port(), '-V', mosquitto, '-i', unique('victim'), '-t', unique('idle'), '-d',
      '--will-topic', willTopic, '--will-payload', 'device died', '--will-qos', '1',
    ]);
    await device.waitFor('SUBACK');
    device.process.kill('SIGKILL');
    const [will] = await watcher.waitForMessages(1);
    expect(will?.payload).toBe('device died');
    await watcher.end();
  });
});

describe.skipIf(PYTHON === undefined)('Python paho-mqtt over TCP and over WebSocket', () => {
  const script = `
import os, sys, threading
import paho.mqtt.client as mqtt
port, version, sub_topic, pub_topic, transport = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
threading.Timer(20, lambda: os._exit(3)).start()
protocol = {'31': mqtt.MQTTv31, '311': mqtt.MQTTv311, '5': mqtt.MQTTv5}[version]
kwargs = {'client_id': 'paho-' + transport + '-' + version + '-' + str(os.getpid()), 'protocol': protocol, 'transport': transport}
if hasattr(mqtt, 'CallbackAPIVersion'):
    kwargs['callback_api_version'] = mqtt.CallbackAPIVersion.VERSION1
client = mqtt.Client(**kwargs)
if transport == 'websockets':
    client.ws_set_options(path='/mqtt')
def on_connect(c, userdata, flags, rc, properties=None):
    c.subscribe(sub_topic, qos=1)
def on_subscribe(c, userdata, mid, granted, properties=None):
    c.publish(pub_topic, 'from-paho', qos=1)
    print('SUBSCRIBED', flush=True)
def on_message(c, userdata, msg):
    print('RECEIVED', msg.payload.decode(), msg.qos, flush=True)
    c.disconnect()
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect('127.0.0.1', port, keepalive=5)
client.loop_forever()
os._exit(0)
`;

  it.each([
    ['tcp', '31', { protocolVersion: 3, protocolId: 'MQIsdp' }],
    ['tcp', '311', { protocolVersion: 4 }],
    ['tcp', '5', { protocolVersion: 5 }],
    ['websockets', '311', { protocolVersion: 4 }],
    ['websockets', '5', { protocolVersion: 5 }],
  ] as Array<['tcp' | 'websockets', string, IClientOptions]>)('paho over %s at MQTT %s exchanges QoS 1 messages with a WebSocket client', async (transport, version, options) => {
    const topic = unique('paho');
    const ws = await connectClient(edge.mqttUrl, { ...options, clientId: unique('ws') });
    await subscribe(ws.client, `${topic}/from-paho`, { qos: 1 });
    // TCP through the sidecar; WebSocket straight to the edge.
    const port = transport === 'tcp' ? bridge.sidecar.tcpPort : edge.port;
    const paho = run(PYTHON ?? 'python3', ['-c', script, String(port), version, `${topic}/to-paho`, `${topic}/from-paho`, transport]);
    await paho.waitFor('SUBSCRIBED');
    await publish(ws.client, `${topic}/to-paho`, 'from-ws', { qos: 1 });
    const result = await paho.finished;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('RECEIVED from-ws 1');
    const [message] = await ws.waitForMessages(1);
    expect(message?.payload).toBe('from-paho');
    await ws.end();
  });
});

describe('the sidecar in front of the real edge', () => {
  it('enforces keep-alive itself: a silent device is closed and its will published', async () => {
    const willTopic = unique('ka-will');
    const watcher = await connectClient(edge.mqttUrl, { protocolVersion: 5, clientId: unique('watch') });
    await subscribe(watcher.client, willTopic, { qos: 1 });
    const device = await connectDevice(bridge.sidecar.tcpPort);
    device.send(connectPacket(5, { clientId: unique('silent'), keepalive: 1, will: { topic: willTopic, payload: Buffer.from('timed out'), qos: 1, retain: false } }), 5);
    await device.closed;
    expect(device.packets(5).map((p) => p.cmd)).toEqual(['connack', 'disconnect']);
    expect(device.packets(5)[1]).toMatchObject({ reasonCode: ReasonCode.KeepAliveTimeout });
    const [will] = await watcher.waitForMessages(1);
    expect(will?.payload).toBe('timed out');
    await watcher.end();
  });

  it('keeps a pinging device connected without forwarding its PINGREQs', async () => {
    const client = await connectClient(tcpUrl, { protocolVersion: 4, keepalive: 1, clientId: unique('pinger') });
    let pingresps = 0;
    client.client.on('packetreceive', (packet) => {
      if (packet.cmd === 'pingresp') pingresps++;
    });
    await sleep(2_500);
    expect(client.client.connected).toBe(true);
    expect(pingresps).toBeGreaterThanOrEqual(1);
    await client.end();
  });

  it('sends no will after a DISCONNECT', async () => {
    const willTopic = unique('no-will');
    const watcher = await connectClient(edge.mqttUrl, { protocolVersion: 4, clientId: unique('watch') });
    await subscribe(watcher.client, willTopic, { qos: 1 });
    const device = await connectClient(tcpUrl, { protocolVersion: 4, clientId: unique('polite'), will: { topic: willTopic, payload: Buffer.from('x'), qos: 1, retain: false } });
    await device.end();
    await sleep(500);
    expect(watcher.messages).toHaveLength(0);
    await watcher.end();
  });

  it('closes the older TCP connection when the same client id connects through another sidecar (session takeover)', async () => {
    const other = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: SECRET });
    extraSidecars.push(other);
    const clientId = unique('taken');
    const first = await connectDevice(bridge.sidecar.tcpPort);
    first.send(connectPacket(5, { clientId }), 5);
    await waitUntil(() => first.packets(5).length === 1, 'first CONNACK');
    const second = await connectClient(`mqtt://127.0.0.1:${other.sidecar.tcpPort}`, { protocolVersion: 5, clientId });
    await first.closed;
    expect(first.packets(5)[1]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.SessionTakenOver });
    expect(second.client.connected).toBe(true);
    await second.end();
  });

  it('lets several stateless sidecars serve the same edge', async () => {
    const other = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: SECRET });
    extraSidecars.push(other);
    const topic = unique('multi');
    const a = await connectClient(tcpUrl, { protocolVersion: 5, clientId: unique('a') });
    const b = await connectClient(`mqtt://127.0.0.1:${other.sidecar.tcpPort}`, { protocolVersion: 4, clientId: unique('b') });
    await subscribe(b.client, topic, { qos: 1 });
    await publish(a.client, topic, 'across sidecars', { qos: 1 });
    const [message] = await b.waitForMessages(1);
    expect(message?.payload).toBe('across sidecars');
    await Promise.all([a.end(), b.end()]);
  });

  it('keeps namespaces apart by the URL path', async () => {
    const other = await startTestSidecar(`${edge.mqttUrl}/other-ns`, { MQTT_BRIDGE_SECRET: SECRET });
    extraSidecars.push(other);
    const topic = unique('ns');
    const inDefault = await connectClient(edge.mqttUrl, { protocolVersion: 4, clientId: unique('d') });
    const inOther = await connectClient(`${edge.mqttUrl}/other-ns`, { protocolVersion: 4, clientId: unique('o') });
    await subscribe(inDefault.client, topic, { qos: 1 });
    await subscribe(inOther.client, topic, { qos: 1 });
    const device = await connectClient(`mqtt://127.0.0.1:${other.sidecar.tcpPort}`, { protocolVersion: 4, clientId: unique('dev') });
    await publish(device.client, topic, 'only other-ns', { qos: 1 });
    await inOther.waitForMessages(1);
    await sleep(300);
    expect(inDefault.messages).toHaveLength(0);
    await Promise.all([inDefault.end(), inOther.end(), device.end()]);
  });

  it('holds MQTT_MAX_CONNECTIONS (mosquitto_pub at 5.0 gets Quota exceeded, MQTT.js at 3.1.1 gets 3)', async () => {
    const limited = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: SECRET, MQTT_MAX_CONNECTIONS: '2' });
    extraSidecars.push(limited);
    const url = `mqtt://127.0.0.1:${limited.sidecar.tcpPort}`;
    const holders: TestClient[] = await Promise.all([1, 2].map(() => connectClient(url, { protocolVersion: 5, clientId: unique('hold') })));
    expect(await connectExpectingRefusal(url, { protocolVersion: 4, clientId: unique('over') })).toBe(3);
    expect(await connectExpectingRefusal(url, { protocolVersion: 5, clientId: unique('over') })).toBe(ReasonCode.QuotaExceeded);
    if (hasMosquitto) {
      const result = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(limited.sidecar.tcpPort), '-V', 'mqttv5', '-t', 'x', '-m', 'y']).finished;
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/quota exceeded/i);
    }
    await Promise.all(holders.map((holder) => holder.end()));
  });

  it('shuts down gracefully: DISCONNECT 0x8B to a 5.0 device, whose will the edge then publishes', async () => {
    const leaving = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: SECRET, MQTT_SHUTDOWN_GRACE_MS: '3000' });
    const willTopic = unique('shutdown-will');
    const watcher = await connectClient(edge.mqttUrl, { protocolVersion: 5, clientId: unique('watch') });
    await subscribe(watcher.client, willTopic, { qos: 1 });
    const device = await connectClient(`mqtt://127.0.0.1:${leaving.sidecar.tcpPort}`, {
      protocolVersion: 5,
      clientId: unique('leaving'),
      will: { topic: willTopic, payload: Buffer.from('sidecar went away'), qos: 1, retain: false },
    });
    const disconnect = new Promise<number | undefined>((resolve) => device.client.once('disconnect', (packet) => resolve(packet.reasonCode)));
    const started = Date.now();
    await leaving.sidecar.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await disconnect).toBe(ReasonCode.ServerShuttingDown);
    const [will] = await watcher.waitForMessages(1);
    expect(will?.payload).toBe('sidecar went away');
    device.client.end(true);
    await watcher.end();
  });

  it.skipIf(!hasMosquitto)('answers mosquitto clients with server unavailable when the edge is down', async () => {
    const orphan = await startTestSidecar(`ws://127.0.0.1:${await closedPort()}/mqtt`);
    extraSidecars.push(orphan);
    const v311 = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(orphan.sidecar.tcpPort), '-V', 'mqttv311', '-t', 'x', '-m', 'y']).finished;
    expect(v311.code).not.toBe(0);
    expect(v311.stderr).toMatch(/broker unavailable/i);
    const v5 = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(orphan.sidecar.tcpPort), '-V', 'mqttv5', '-t', 'x', '-m', 'y']).finished;
    expect(v5.code).not.toBe(0);
    expect(v5.stderr).toMatch(/server unavailable/i);
    expect(orphan.events('connection.refused').filter((line) => line['reason'] === 'edge-unavailable')).toHaveLength(2);
  });
});
