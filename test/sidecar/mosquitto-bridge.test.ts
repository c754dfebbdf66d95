/**
 * A stock mosquitto bridging into this broker: Debian's mosquitto 2.0.11
 * with an unmodified `connection` block pointed at the sidecar, the real
 * Worker on workerd behind it, MQTT.js clients on both sides. mosquitto
 * announces its bridge with the bridge bit of the protocol level
 * (`try_private`, on by default), leaves a will "0" on its state topic and
 * publishes "1" there (`notifications`, on by default). mosquitto 2.0 cannot
 * bridge over WebSockets, so it comes in over TCP, through the sidecar.
 * Every wait is for something observable; that something did NOT arrive is
 * checked only after a fence message that took the same path.
 */
import { hostname } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { hasMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { arrived, connectClient, publish, subscribe, tally, type TestClient } from '../helpers/mqtt-clients.ts';
import { openPeer } from '../helpers/raw-peer.ts';
import { Started } from '../helpers/started.ts';
import { closeStarted, startTestSidecar, waitUntil, type TestSidecar } from './harness.ts';

const secret = 'mosquitto-bridge-secret';
const adminToken = 'mosquitto-bridge-admin';
let edge: TestEdge;
/** Brokers and clients a test started, closed after it (sidecars: closeStarted). */
const started = new Started();
let namespaceCounter = 0;

/** mosquitto's default client id for `connection edge`: `<hostname>.<connection>`. */
const bridgeClientId = `${hostname()}.edge`;
const stateTopic = `$SYS/broker/connection/${bridgeClientId}/state`;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: secret, MQTT_ADMIN_TOKEN: adminToken });
});
afterEach(async () => {
  await started.closeAll();
  await closeStarted();
});
afterAll(async () => {
  await edge?.dispose();
});

interface Stack {
  namespace: string;
  edgeUrl: string;
  sidecar: TestSidecar;
}

/** A namespace of its own (mosquitto keeps its bridge's session: cleansession false) and a sidecar into it. */
async function stack(): Promise<Stack> {
  namespaceCounter++;
  const namespace = `mosquitto-bridge-${process.pid}-${namespaceCounter}`;
  const edgeUrl = `${edge.mqttUrl}/${namespace}`;
  const sidecar = await startTestSidecar(edgeUrl, { MQTT_BRIDGE_SECRET: secret });
  return { namespace, edgeUrl, sidecar };
}

/** mosquitto with a local listener for its clients and the `connection` block as a user writes it. */
function bridgingMosquitto(target: Stack, extra: string[] = []): Promise<Mosquitto> {
  return started.mosquitto({ config: ['allow_anonymous true', 'connection edge', `address 127.0.0.1:${target.sidecar.sidecar.tcpPort}`, 'topic # both 1', ...extra] });
}

const client = (url: string, options: Parameters<typeof connectClient>[1] = {}): Promise<TestClient> => started.client(url, options);

interface ClientListing {
  clients: Array<{ clientId: string; connected: boolean; brokerBridge?: boolean; protocolLevel?: number; subscriptions: Array<{ filter: string; qos: number }> }>;
}

type ClientSummary = ClientListing['clients'][number];

/** A client as the edge's admin API shows it. */
async function clientAtTheEdge(namespace: string, clientId: string): Promise<ClientSummary | undefined> {
  const answer = await adminClient(edge.url, adminToken)('GET', `/admin/${namespace}/clients`);
  return (answer.body as unknown as ClientListing).clients.find((entry) => entry.clientId === clientId);
}

/** Until the bridge's `#` subscription is in place here: before it, what the edge's clients publish has nowhere to go. */
async function bridgeSubscribed(namespace: string): Promise<ClientSummary> {
  let bridge: ClientSummary | undefined;
  const deadline = Date.now() + 15_000;
  for (;;) {
    bridge = await clientAtTheEdge(namespace, bridgeClientId);
    if (bridge?.connected === true && bridge.subscriptions.some((entry) => entry.filter === '#')) return bridge;
    if (Date.now() > deadline) throw new Error(`mosquitto's bridge did not subscribe at the edge: ${JSON.stringify(bridge)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const numbered = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}/${i}`);

describe.skipIf(!hasMosquitto)('a mosquitto bridge into this broker (an unmodified `connection` block)', () => {
  it.each([
    ['mqttv311, the default: protocol level 0x84', [], 4, true],
    ['mqttv31: protocol level 0x83', ['bridge_protocol_version mqttv31'], 3, true],
    ['mqttv50: no bridge bit, No Local on its subscriptions', ['bridge_protocol_version mqttv50'], 5, false],
  ] as const)('%s: messages cross both ways, none comes back to its sender, retained ones stay retained, and its state topic shows 1', async (_name, protocolLine, level, marked) => {
    const target = await stack();
    const edgeWatcher = await client(target.edgeUrl, { protocolVersion: 5, clientId: 'state-watcher' });
    await subscribe(edgeWatcher.client, stateTopic, { qos: 1 });
    const local = await bridgingMosquitto(target, [...protocolLine]);
    // mosquitto publishes "1" as soon as the edge accepts the bridge.
    await waitUntil(() => arrived(edgeWatcher, stateTopic, '1'), 'the bridge state "1" at the edge', 15_000);
    const bridge = await bridgeSubscribed(target.namespace);
    expect(bridge).toMatchObject({ protocolLevel: level, subscriptions: [{ filter: '#', qos: 1 }] });
    expect(bridge.brokerBridge === true).toBe(marked);
    if (marked) expect(local.log()).not.toContain('unacceptable protocol version');

    const edgeReceiver = await client(target.edgeUrl, { protocolVersion: 5, clientId: 'edge-receiver' });
    const mosquittoReceiver = await client(local.url, { protocolVersion: 4, clientId: 'mosquitto-receiver' });
    await subscribe(edgeReceiver.client, 't/#', { qos: 1 });
    await subscribe(mosquittoReceiver.client, 't/#', { qos: 1 });
    const edgeSender = await client(target.edgeUrl, { protocolVersion: 4, clientId: 'edge-sender' });
    const mosquittoSender = await client(local.url, { protocolVersion: 4, clientId: 'mosquitto-sender' });

    const fromEdge = numbered('t/from-edge', 10);
    const fromMosquitto = numbered('t/from-mosquitto', 10);
    await Promise.all([
      ...fromEdge.map((topic) => publish(edgeSender.client, topic, 'E', { qos: 1 })),
      ...fromMosquitto.map((topic) => publish(mosquittoSender.client, topic, 'M', { qos: 1 })),
      publish(edgeSender.client, 't/retained/from-edge', 'kept E', { qos: 1, retain: true }),
      publish(mosquittoSender.client, 't/retained/from-mosquitto', 'kept M', { qos: 1, retain: true }),
    ]);
    await edgeReceiver.waitForMessages(22);
    await mosquittoReceiver.waitForMessages(22);
    // Fences: each side's receiver has everything from the other side, so a copy bounced back by either broker
    // was sent over the bridge before the fence that now follows it on the same path.
    await publish(edgeSender.client, 't/fence', 'from-edge', { qos: 1 });
    await publish(mosquittoSender.client, 't/fence', 'from-mosquitto', { qos: 1 });
    for (const receiver of [edgeReceiver, mosquittoReceiver]) {
      await waitUntil(() => arrived(receiver, 't/fence', 'from-edge') && arrived(receiver, 't/fence', 'from-mosquitto'), 'both fences', 10_000);
    }
    const expected = new Map([
      ...fromEdge.map((topic) => [`${topic}=E`, 1] as const),
      ...fromMosquitto.map((topic) => [`${topic}=M`, 1] as const),
      ['t/retained/from-edge=kept E', 1],
      ['t/retained/from-mosquitto=kept M', 1],
      ['t/fence=from-edge', 1],
      ['t/fence=from-mosquitto', 1],
    ]);
    expect(tally(edgeReceiver.messages)).toEqual(expected);
    expect(tally(mosquittoReceiver.messages)).toEqual(expected);

    // Retained on both sides, whichever side it was published on: the bridge gets the retain flag as published.
    for (const url of [target.edgeUrl, local.url]) {
      const late = await client(url, { protocolVersion: 4 });
      await subscribe(late.client, 't/retained/#', { qos: 1 });
      const retained = await late.waitForMessages(2);
      expect(retained.map((message) => [message.topic, message.payload, message.packet.retain]).sort()).toEqual([
        ['t/retained/from-edge', 'kept E', true],
        ['t/retained/from-mosquitto', 'kept M', true],
      ]);
    }
    // The bridge's state at the edge: retained, "1" while it is connected.
    const late = await client(target.edgeUrl, { protocolVersion: 4 });
    await subscribe(late.client, '$SYS/broker/connection/+/state', { qos: 1 });
    const [state] = await late.waitForMessages(1);
    expect(state).toMatchObject({ topic: stateTopic, payload: '1', packet: { retain: true } });
  });

  it('with try_private false it is a plain 3.1.1 client: what its side publishes comes back to that side once (so leave it on)', async () => {
    const target = await stack();
    const local = await bridgingMosquitto(target, ['try_private false']);
    expect(await bridgeSubscribed(target.namespace)).not.toHaveProperty('brokerBridge');
    const mosquittoReceiver = await client(local.url, { protocolVersion: 4 });
    await subscribe(mosquittoReceiver.client, 't/#', { qos: 1 });
    const mosquittoSender = await client(local.url, { protocolVersion: 4 });
    await publish(mosquittoSender.client, 't/echo', 'once?', { qos: 1 });
    // The echo comes back from the edge; mosquitto's own No Local on the bridge's local subscription ends it there.
    await mosquittoReceiver.waitForMessages(2);
    const edgeSender = await client(target.edgeUrl, { protocolVersion: 4 });
    await publish(edgeSender.client, 't/fence', 'f', { qos: 1 });
    await waitUntil(() => arrived(mosquittoReceiver, 't/fence'), 'the fence');
    expect(tally(mosquittoReceiver.messages)).toEqual(new Map([['t/echo=once?', 2], ['t/fence=f', 1]]));
  });

  it('its will sets the state topic to 0 when mosquitto goes away', async () => {
    const target = await stack();
    const local = await bridgingMosquitto(target);
    await bridgeSubscribed(target.namespace);
    const watcher = await client(target.edgeUrl, { protocolVersion: 5 });
    await subscribe(watcher.client, '$SYS/broker/connection/#', { qos: 1 });
    await waitUntil(() => arrived(watcher, stateTopic, '1'), 'the retained state "1"');
    await local.dispose();
    await waitUntil(() => arrived(watcher, stateTopic, '0'), 'the will "0"', 15_000);
    const late = await client(target.edgeUrl, { protocolVersion: 4 });
    await subscribe(late.client, stateTopic, { qos: 1 });
    const [state] = await late.waitForMessages(1);
    expect(state).toMatchObject({ payload: '0', packet: { retain: true } });
  });
});

describe('the bridge bit of the protocol level, on the wire through the sidecar', () => {
  /** A CONNECT by hand: mqtt-packet writes no level it does not know. */
  function connectWithLevel(level: number, clientId: string): Buffer {
    const connect = Buffer.from(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 60 }, 4));
    connect[8] = level; // after 0x10, the length, 0x00 0x04 'MQTT'
    return connect;
  }

  it('accepts a mosquitto bridge (protocol level 0x84, try_private): CONNACK 0; refuses 0x85 and 0x44 (0x04 | 0x40) as before: CONNACK 0x01', async () => {
    const target = await stack();
    const port = target.sidecar.sidecar.tcpPort;
    const bridge = await openPeer({ kind: 'tcp', port }, 4);
    bridge.sendBytes(connectWithLevel(0x84, 'raw-bridge'));
    expect(await bridge.waitFor('connack')).toMatchObject({ returnCode: 0 });
    expect(await clientAtTheEdge(target.namespace, 'raw-bridge')).toMatchObject({ connected: true, brokerBridge: true, protocolLevel: 4 });
    bridge.close();
    for (const level of [0x85, 0x44]) {
      const peer = await openPeer({ kind: 'tcp', port }, 4);
      peer.sendBytes(connectWithLevel(level, `junk-${level}`));
      expect(await peer.waitFor('connack'), `level 0x${level.toString(16)}`).toMatchObject({ returnCode: 1 });
      await peer.closed;
    }
  });
});
