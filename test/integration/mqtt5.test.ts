/**
 * MQTT 5.0 features end to end with MQTT.js 5 and raw peers, straight to the
 * edge over WebSocket and through the TCP sidecar: the same suite per transport.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions } from 'mqtt';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import { startSidecar, type Sidecar } from '../../sidecar/server.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, publish, subscribe } from '../helpers/mqtt-clients.ts';
import { connectPacket, openPeer, type PeerTarget, type RawPeer } from '../helpers/raw-peer.ts';

const bridgeSecret = 'mqtt5-suite-secret';
const transports = ['websocket', 'sidecar'] as const;

describe.each(transports)('MQTT 5 over %s', (transport) => {
  let edge: TestEdge;
  let sidecar: Sidecar | undefined;
  let url: string;
  let target: PeerTarget;

  beforeAll(async () => {
    // The Worker built with defineBroker and an authenticate hook, so AUTH can be exercised too.
    edge = await startTestEdge(
      {
        MQTT_BRIDGE_SECRET: bridgeSecret,
        MQTT_RECEIVE_MAXIMUM: '3',
        MQTT_TOPIC_ALIAS_MAXIMUM: '4',
        MQTT_MAX_PACKET_SIZE: '4096',
        MQTT_MAX_KEEPALIVE: '30',
      },
      { scriptPath: process.env['HOOKS_BUNDLE'] as string },
    );
    if (transport === 'sidecar') {
      sidecar = await startSidecar(
        loadSidecarConfig({
          MQTT_TCP_HOST: '127.0.0.1',
          MQTT_TCP_PORT: '0',
          MQTT_EDGE_URL: edge.mqttUrl,
          MQTT_BRIDGE_SECRET: bridgeSecret,
          MQTT_MAX_PACKET_SIZE: '4096',
          MQTT_LOG_LEVEL: 'warn',
        }),
      );
      url = `mqtt://127.0.0.1:${sidecar.tcpPort}`;
      target = { kind: 'tcp', port: sidecar.tcpPort };
    } else {
      url = edge.mqttUrl;
      target = { kind: 'ws', url: edge.mqttUrl };
    }
  });

  afterAll(async () => {
    await sidecar?.close();
    await edge?.dispose();
  });

  let counter = 0;
  const unique = (prefix: string): string => `${prefix}-${transport}-${process.pid}-${++counter}`;
  const v5 = (options: IClientOptions = {}): IClientOptions => ({ protocolVersion: 5, ...options });

  /** A raw 5.0 peer, connected (CONNACK received). */
  async function rawClient(clientId: string, properties: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<RawPeer> {
    const peer = await openPeer(target, 5);
    peer.send(connectPacket(clientId, { properties, ...extra }));
    const connack = (await peer.waitFor('connack')) as { reasonCode?: number };
    expect(connack.reasonCode).toBe(0);
    return peer;
  }

  it('announces its capabilities and caps keep-alive in CONNACK', async () => {
    const c = await connectClient(url, v5({ clientId: unique('caps'), keepalive: 60 }));
    expect(c.connack.properties).toMatchObject({
      receiveMaximum: 3,
      topicAliasMaximum: 4,
      maximumPacketSize: 4096,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
      serverKeepAlive: 30,
    });
    await c.end();
  });

  describe('session expiry', () => {
    const present = async (clientId: string, properties: IClientOptions['properties'], clean = false): Promise<boolean> => {
      const c = await connectClient(url, v5({ clientId, clean, ...(properties === undefined ? {} : { properties }) }));
      await c.end();
      return c.connack.sessionPresent;
    };

    it('ends the session with the connection at 0, keeps it for N seconds and for 0xFFFFFFFF', async () => {
      const zero = unique('exp0');
      await present(zero, { sessionExpiryInterval: 0 });
      expect(await present(zero, { sessionExpiryInterval: 0 })).toBe(false);
      const kept = unique('exp300');
      await present(kept, { sessionExpiryInterval: 300 });
      expect(await present(kept, { sessionExpiryInterval: 300 })).toBe(true);
      const forever = unique('expmax');
      await present(forever, { sessionExpiryInterval: 0xffffffff });
      expect(await present(forever, { sessionExpiryInterval: 0xffffffff })).toBe(true);
    });

    // Expiry after the interval, will delay and message expiry are clock-driven: test/core/protocol.test.ts moves the clock instead of sleeping.

    it('takes a new interval at DISCONNECT, and refuses raising it from 0', async () => {
      const clientId = unique('expdisc');
      const c = await connectClient(url, v5({ clientId, clean: false, properties: { sessionExpiryInterval: 300 } }));
      await new Promise<void>((resolve) => c.client.end(false, { properties: { sessionExpiryInterval: 0 } }, () => resolve()));
      expect(await present(clientId, { sessionExpiryInterval: 300 })).toBe(false);

      const peer = await rawClient(unique('raise'), { sessionExpiryInterval: 0 });
      peer.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
      const disconnect = (await peer.waitFor('disconnect')) as { reasonCode?: number };
      expect(disconnect.reasonCode).toBe(0x82);
    });
  });

  describe('topic aliases', () => {
    it('resolves client-to-server aliases', async () => {
      const topic = unique('alias-in');
      const sub = await connectClient(url, v5({ clientId: unique('sub') }));
      await subscribe(sub.client, topic, { qos: 1 });
      const peer = await rawClient(unique('aliaser'));
      peer.send({ cmd: 'publish', topic, payload: Buffer.from('one'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 2 } });
      peer.send({ cmd: 'publish', topic: '', payload: Buffer.from('two'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 2 } });
      const got = await sub.waitForMessages(2);
      expect(got.map((m) => [m.topic, m.payload])).toEqual([[topic, 'one'], [topic, 'two']]);
      peer.close();
      await sub.end();
    });

    it.each([
      { name: 'alias 0', alias: [0x23, 0x00, 0x00] },
      { name: 'an alias above the maximum', alias: [0x23, 0x00, 0x05] },
    ])('refuses $name with DISCONNECT 0x94', async ({ alias }) => {
      const peer = await rawClient(unique('badalias'));
      // mqtt-packet will not encode these: PUBLISH QoS 0, topic "t", properties [alias], payload "x".
      peer.sendBytes(Buffer.from([0x30, 2 + 1 + 1 + alias.length + 1, 0x00, 0x01, 0x74, alias.length, ...alias, 0x78]));
      const disconnect = (await peer.waitFor('disconnect')) as { reasonCode?: number };
      expect(disconnect.reasonCode).toBe(0x94);
      await peer.closed;
    });

    it('uses server-to-client aliases up to what the client allows', async () => {
      const base = unique('alias-out');
      const peer = await rawClient(unique('alias-reader'), { topicAliasMaximum: 2 });
      peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 0 }] });
      await peer.waitFor('suback');
      const pub = await connectClient(url, v5({ clientId: unique('pub') }));
      for (const leaf of ['a', 'a', 'b', 'c', 'a']) await publish(pub.client, `${base}/${leaf}`, leaf, { qos: 1 });
      await peer.waitFor('publish', 5000, 5);
      const seen = peer.all('publish').map((p) => {
        const publishPacket = p as { topic: string; properties?: { topicAlias?: number } };
        return [publishPacket.topic, publishPacket.properties?.topicAlias];
      });
      expect(seen).toEqual([
        [`${base}/a`, 1],
        ['', 1],
        [`${base}/b`, 2],
        [`${base}/c`, undefined],
        ['', 1],
      ]);
      peer.close();
      await pub.end();
    });
  });

  describe('flow control', () => {
    it('keeps at most the client’s Receive Maximum of QoS 1 messages in flight', async () => {
      const topic = unique('rx');
      const peer = await rawClient(unique('slow'), { receiveMaximum: 2 });
      peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await peer.waitFor('suback');
      const pub = await connectClient(url, v5({ clientId: unique('pub') }));
      for (let i = 0; i < 5; i++) await publish(pub.client, topic, `m${i}`, { qos: 1 });
      await peer.waitFor('publish', 5000, 2);
      // A fence: all five were routed before the last PUBACK; whatever the peer was sent comes before this PINGRESP.
      peer.send({ cmd: 'pingreq' });
      await peer.waitFor('pingresp');
      expect(peer.all('publish')).toHaveLength(2);
      for (let acked = 0; acked < 5; acked++) {
        const next = peer.all('publish')[acked] ?? (await peer.waitFor('publish', 5000, acked + 1));
        peer.send({ cmd: 'puback', messageId: next.messageId as number });
      }
      await peer.waitFor('publish', 5000, 5);
      expect(peer.all('publish').map((p) => (p as { payload: Buffer }).payload.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      peer.close();
      await pub.end();
    });

    it('disconnects a client that exceeds the broker’s Receive Maximum with 0x93', async () => {
      const peer = await rawClient(unique('flood'));
      for (let id = 1; id <= 4; id++) {
        peer.send({ cmd: 'publish', topic: unique('flood'), payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false });
      }
      const disconnect = (await peer.waitFor('disconnect')) as { reasonCode?: number };
      expect(disconnect.reasonCode).toBe(0x93);
      expect(peer.all('pubrec')).toHaveLength(3);
    });
  });

  describe('maximum packet size', () => {
    it('disconnects a client whose packet is over the maximum (0x95)', async () => {
      const peer = await rawClient(unique('big'));
      peer.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(5000, 1), qos: 0, retain: false, dup: false });
      const disconnect = (await peer.waitFor('disconnect')) as { reasonCode?: number };
      expect(disconnect.reasonCode).toBe(0x95);
      await peer.closed;
    });

    it('drops a message too large for one subscriber only', async () => {
      const topic = unique('size');
      const small = await connectClient(url, v5({ clientId: unique('small'), properties: { maximumPacketSize: 200 } }));
      const large = await connectClient(url, v5({ clientId: unique('large') }));
      await subscribe(small.client, topic, { qos: 1 });
      await subscribe(large.client, topic, { qos: 1 });
      await publish(large.client, topic, 'x'.repeat(500), { qos: 1 });
      await publish(large.client, topic, 'fits', { qos: 1 });
      await large.waitForMessages(2);
      const [onlySmall] = await small.waitForMessages(1);
      expect(onlySmall?.payload).toBe('fits');
      await Promise.all([small.end(), large.end()]);
    });
  });

  it('delivers the subscription identifiers of every matching subscription', async () => {
    const base = unique('sid');
    const c = await connectClient(url, v5({ clientId: unique('sid') }));
    await subscribe(c.client, `${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await subscribe(c.client, `${base}/#`, { qos: 1, properties: { subscriptionIdentifier: 9 } });
    await publish(c.client, `${base}/x`, 'ids', { qos: 1 });
    const [message] = await c.waitForMessages(1);
    const ids = message?.packet.properties?.subscriptionIdentifier;
    expect([ids].flat().sort()).toEqual([7, 9]);
    await c.end();
  });

  describe('subscription options', () => {
    it('No Local keeps a client’s own messages from it', async () => {
      const topic = unique('nl');
      const self = await connectClient(url, v5({ clientId: unique('self') }));
      const other = await connectClient(url, v5({ clientId: unique('other') }));
      await subscribe(self.client, topic, { qos: 1, nl: true });
      await publish(self.client, topic, 'mine', { qos: 1 });
      await publish(other.client, topic, 'theirs', { qos: 1 });
      const [message] = await self.waitForMessages(1);
      // 'mine' was routed (and acknowledged) before 'theirs' was sent: had it been delivered, it would be first.
      expect(message?.payload).toBe('theirs');
      expect(self.messages).toHaveLength(1);
      await Promise.all([self.end(), other.end()]);
    });

    it('Retain As Published keeps the retain flag on live messages', async () => {
      const topic = unique('rap');
      const keep = await connectClient(url, v5({ clientId: unique('keep') }));
      const clear = await connectClient(url, v5({ clientId: unique('clear') }));
      await subscribe(keep.client, topic, { qos: 1, rap: true });
      await subscribe(clear.client, topic, { qos: 1, rap: false });
      await publish(keep.client, topic, 'r', { qos: 1, retain: true });
      const [kept] = await keep.waitForMessages(1);
      const [cleared] = await clear.waitForMessages(1);
      expect(kept?.packet.retain).toBe(true);
      expect(cleared?.packet.retain).toBe(false);
      await Promise.all([keep.end(), clear.end()]);
    });

    it('Retain Handling 0 sends retained messages on every subscribe, 1 only on a new one, 2 never', async () => {
      const topic = unique('rh');
      const pub = await connectClient(url, v5({ clientId: unique('pub') }));
      await publish(pub.client, topic, 'kept', { qos: 1, retain: true });
      const count = async (rh: 0 | 1 | 2): Promise<number> => {
        const c = await connectClient(url, v5({ clientId: unique(`rh${rh}`) }));
        await subscribe(c.client, topic, { qos: 1, rh });
        await subscribe(c.client, topic, { qos: 1, rh });
        // A fence: retained messages of the subscriptions before reach the client before this SUBACK.
        await subscribe(c.client, `${topic}/fence`, { qos: 0 });
        await c.end();
        return c.messages.length;
      };
      expect(await count(0)).toBe(2);
      expect(await count(1)).toBe(1);
      expect(await count(2)).toBe(0);
      await publish(pub.client, topic, '', { qos: 1, retain: true });
      await pub.end();
    });
  });

  describe('shared subscriptions', () => {
    it('gives each message to one member of the group, and all to the member left', async () => {
      const topic = unique('shared');
      const filter = `$share/workers/${topic}`;
      const a = await connectClient(url, v5({ clientId: unique('a') }));
      const b = await connectClient(url, v5({ clientId: unique('b') }));
      await subscribe(a.client, filter, { qos: 1 });
      await subscribe(b.client, filter, { qos: 1 });
      const pub = await connectClient(url, v5({ clientId: unique('pub') }));
      for (let i = 0; i < 10; i++) await publish(pub.client, topic, `m${i}`, { qos: 1 });
      await eventually(() => a.messages.length + b.messages.length === 10, 5000, '10 deliveries');
      expect(a.messages.length).toBeGreaterThan(0);
      expect(b.messages.length).toBeGreaterThan(0);
      expect(new Set([...a.messages, ...b.messages].map((m) => m.payload)).size).toBe(10);
      await a.end();
      for (let i = 10; i < 15; i++) await publish(pub.client, topic, `m${i}`, { qos: 1 });
      await eventually(() => b.messages.length + a.messages.length === 15, 5000, 'the rest to b');
      await Promise.all([b.end(), pub.end()]);
    });

    it('hands a leaving member’s queued and unacknowledged QoS 1 messages to another member', async () => {
      const topic = unique('redistribute');
      const filter = `$share/pool/${topic}`;
      const stuck = await rawClient(unique('stuck'), { receiveMaximum: 1 });
      stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
      await stuck.waitFor('suback');
      const healthy = await connectClient(url, v5({ clientId: unique('healthy') }));
      await subscribe(healthy.client, filter, { qos: 1 });
      const pub = await connectClient(url, v5({ clientId: unique('pub') }));
      for (let i = 0; i < 6; i++) await publish(pub.client, topic, `m${i}`, { qos: 1 });
      await stuck.waitFor('publish');
      stuck.close();
      await eventually(() => healthy.messages.length === 6, 5000, 'all 6 at the healthy member');
      expect(healthy.messages.map((m) => m.payload).sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
      await Promise.all([healthy.end(), pub.end()]);
    });

    it('refuses No Local on a shared subscription (protocol error)', async () => {
      const peer = await rawClient(unique('nl-shared'));
      peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/x', qos: 1, nl: true }] });
      const disconnect = (await peer.waitFor('disconnect')) as { reasonCode?: number };
      expect(disconnect.reasonCode).toBe(0x82);
    });
  });

  it('passes Response Topic, Correlation Data, User Properties, Content Type and Payload Format through', async () => {
    const topic = unique('props');
    const c = await connectClient(url, v5({ clientId: unique('props') }));
    await subscribe(c.client, topic, { qos: 1 });
    await publish(c.client, topic, '{"q":1}', {
      qos: 1,
      properties: {
        responseTopic: `${topic}/reply`,
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: { a: '1', b: ['x', 'y'] },
        contentType: 'application/json',
        payloadFormatIndicator: true,
      },
    });
    const [message] = await c.waitForMessages(1);
    const properties = message?.packet.properties;
    expect(properties?.responseTopic).toBe(`${topic}/reply`);
    expect([...(properties?.correlationData ?? [])]).toEqual([1, 2, 3]);
    expect(properties?.userProperties).toEqual({ a: '1', b: ['x', 'y'] });
    expect(properties?.contentType).toBe('application/json');
    expect(properties?.payloadFormatIndicator).toBe(true);
    await c.end();
  });

  it('forwards User Properties in their order, interleaved names included [MQTT-3.3.2-18]', async () => {
    const topic = unique('order');
    const reader = await rawClient(unique('order-reader'));
    reader.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await reader.waitFor('suback');
    const writer = await rawClient(unique('order-writer'));
    const text = (value: string): number[] => [value.length >> 8, value.length & 0xff, ...Buffer.from(value)];
    const pair = (name: string, value: string): number[] => [0x26, ...text(name), ...text(value)];
    const properties = [...pair('a', '1'), ...pair('b', '2'), ...pair('a', '3')];
    // mqtt-packet cannot write interleaved names, so the PUBLISH is built by hand (QoS 1, packet id 5).
    const variable = [...text(topic), 0x00, 0x05, properties.length, ...properties, ...Buffer.from('ordered')];
    writer.sendBytes(Uint8Array.from([0x32, variable.length, ...variable]));
    await reader.waitFor('publish');
    expect(reader.received().includes(Buffer.from(properties))).toBe(true);
    writer.close();
    reader.close();
  });

  it('refuses a payload that is not UTF-8 despite Payload Format Indicator 1 (0x99)', async () => {
    const peer = await rawClient(unique('pfi'));
    peer.send({ cmd: 'publish', topic: unique('pfi'), payload: Buffer.from([0xff, 0xfe]), qos: 1, messageId: 9, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    const puback = (await peer.waitFor('puback')) as { reasonCode?: number };
    expect(puback.reasonCode).toBe(0x99);
    peer.close();
  });

  it('sends Reason Strings only to clients that allow them', async () => {
    for (const requestProblemInformation of [true, false]) {
      const peer = await rawClient(unique('reason'), { requestProblemInformation });
      peer.send(connectPacket(unique('again')));
      const disconnect = (await peer.waitFor('disconnect')) as { reasonCode?: number; properties?: { reasonString?: string } };
      expect(disconnect.reasonCode).toBe(0x82);
      if (requestProblemInformation) expect(disconnect.properties?.reasonString).toMatch(/CONNECT/);
      else expect(disconnect.properties?.reasonString).toBeUndefined();
    }
  });

  describe('enhanced authentication (AUTH)', () => {
    it('runs a challenge/response through the authenticate hook', async () => {
      const clientId = unique('auth');
      const peer = await openPeer(target, 5);
      peer.send(connectPacket(clientId, { properties: { authenticationMethod: 'CHALLENGE-TEST', authenticationData: Buffer.from('hello') } }));
      const challenge = (await peer.waitFor('auth')) as { reasonCode?: number; properties?: { authenticationMethod?: string; authenticationData?: Buffer } };
      expect(challenge.reasonCode).toBe(0x18);
      expect(challenge.properties?.authenticationData?.toString()).toBe('nonce-for-hello');
      peer.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'CHALLENGE-TEST', authenticationData: Buffer.from(`answer-${clientId}`) } });
      const connack = (await peer.waitFor('connack')) as { reasonCode?: number; properties?: { authenticationMethod?: string; authenticationData?: Buffer } };
      expect(connack.reasonCode).toBe(0);
      expect(connack.properties?.authenticationMethod).toBe('CHALLENGE-TEST');
      expect(connack.properties?.authenticationData?.toString()).toBe('welcome');

      // Re-authentication on the live connection.
      peer.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'CHALLENGE-TEST', authenticationData: Buffer.from('again') } });
      const second = (await peer.waitFor('auth', 5000, 2)) as { reasonCode?: number; properties?: { authenticationData?: Buffer } };
      expect(second.reasonCode).toBe(0x18);
      expect(second.properties?.authenticationData?.toString()).toBe('nonce-for-again');
      peer.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'CHALLENGE-TEST', authenticationData: Buffer.from(`answer-${clientId}`) } });
      const done = (await peer.waitFor('auth', 5000, 3)) as { reasonCode?: number };
      expect(done.reasonCode).toBe(0);
      peer.close();
    });

    it('refuses a wrong answer with CONNACK 0x86', async () => {
      const peer = await openPeer(target, 5);
      peer.send(connectPacket(unique('wrong'), { properties: { authenticationMethod: 'CHALLENGE-TEST', authenticationData: Buffer.from('x') } }));
      await peer.waitFor('auth');
      peer.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'CHALLENGE-TEST', authenticationData: Buffer.from('guess') } });
      const connack = (await peer.waitFor('connack')) as { reasonCode?: number };
      expect(connack.reasonCode).toBe(0x86);
    });
  });

  it('keeps every client of MQTT.js working after all of the above (no namespace damage)', async () => {
    const topic = unique('final');
    const c = await connectClient(url, v5({ clientId: unique('final') }));
    await subscribe(c.client, topic, { qos: 2 });
    await publish(c.client, topic, 'ok', { qos: 2 });
    await c.waitForMessages(1);
    await c.end();
    void mqtt;
  });
});
