/**
 * Packet-level conformance of PUBLISH as the server receives and forwards
 * it (DUP, topic aliases, Response Topic, Subscription Identifiers), of
 * UNSUBSCRIBE with several filters, and of the server's own DISCONNECT.
 * Over TCP through the sidecar and over WebSocket (harness: wire.ts).
 */
import type mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { packet, props, rawStr, str, u16 } from '../unit/codec/helpers.ts';
import { expectMarkerFirst, watch } from './observe.ts';
import { connected, connectOf, useWireStack, wireTests, type Received, type WireCase, type WirePeer } from './wire.ts';

const stack = useWireStack();

const publishOf = (topic: string, payload: string, extra: Partial<mqttPacket.IPublishPacket> = {}): mqttPacket.IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  messageId: 1,
  retain: false,
  dup: false,
  ...extra,
});

/** Subscribes `peer` to each filter (5.0: with its Subscription Identifier, if given) and waits for the SUBACK. */
async function subscribe(peer: WirePeer, messageId: number, filters: ReadonlyArray<{ topic: string; id?: number }>): Promise<void> {
  for (const [index, { topic, id }] of filters.entries()) {
    peer.send({ cmd: 'subscribe', messageId: messageId + index, subscriptions: [{ topic, qos: 1 }], ...(id === undefined ? {} : { properties: { subscriptionIdentifier: id } }) });
    await peer.expect({ cmd: 'suback', messageId: messageId + index });
  }
}

/** The server closes the connection after at most a DISCONNECT with `reason` (5.0), which carries no Session Expiry Interval [MQTT-3.14.2-2]. */
async function expectDisconnected(peer: WirePeer, reason: number): Promise<void> {
  const before = (await peer.closedAfter()).map(({ packet: sent }) => sent);
  if (peer.level !== 5 || before.length === 0) {
    expect(before).toEqual([]);
    return;
  }
  expect(before).toMatchObject([{ cmd: 'disconnect', reasonCode: reason }]);
  expect(before[0]?.cmd === 'disconnect' ? before[0].properties?.sessionExpiryInterval : undefined).toBeUndefined();
}

const payloadOf = (received: Received): string => (received.packet.cmd === 'publish' ? received.packet.payload.toString() : received.packet.cmd);

describe('PUBLISH', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-3.3.1-3] a PUBLISH with DUP 1 reaches a subscriber with DUP 0: DUP is not propagated',
      levels: [4, 5],
      mosquitto: true,
      async run(peer, name, wire) {
        peer.send(connectOf(peer.level, name));
        await peer.next('CONNACK');
        await subscribe(peer, 1, [{ topic: name }]);
        const publisher = await connected(wire, peer.transport, peer.level, `${name}-pub`);
        // As a client re-sending it would: DUP 1, QoS 1.
        publisher.send(publishOf(name, 'again', { dup: true, messageId: 7 }));
        await publisher.expect({ cmd: 'puback', messageId: 7 });
        const received = await peer.expect({ cmd: 'publish', topic: name, qos: 1 });
        expect(received.bytes[0], 'the first byte: PUBLISH, QoS 1, DUP 0').toBe(0x32);
        publisher.close();
      },
    },
    {
      name: '[MQTT-3.3.2-7] a topic alias set on one connection is unknown on the next: using it is a protocol error (DISCONNECT 0x82)',
      levels: [5],
      mosquitto: true,
      async run(peer, name, wire) {
        peer.send(connectOf(5, name));
        await peer.next('CONNACK');
        peer.send(publishOf(name, 'sets', { properties: { topicAlias: 1 } }));
        await peer.expect({ cmd: 'puback', messageId: 1 });
        // The alias works on this connection.
        peer.send(publishOf('', 'uses', { messageId: 2, properties: { topicAlias: 1 } }));
        await peer.expect({ cmd: 'puback', messageId: 2 });
        peer.send({ cmd: 'disconnect' });
        await peer.expectClose();
        const next = await wire.open(peer.transport, 5);
        next.send(connectOf(5, name, { clean: false }));
        await next.next('CONNACK');
        next.send(publishOf('', 'unknown', { messageId: 3, properties: { topicAlias: 1 } }));
        await expectDisconnected(next, 0x82);
      },
    },
    {
      name: '[MQTT-3.3.2-13] a Response Topic of ill-formed UTF-8 closes the connection (DISCONNECT 0x81 at most)',
      levels: [5],
      mosquitto: true,
      async run(peer, name) {
        peer.send(connectOf(5, name));
        await peer.next('CONNACK');
        // PUBLISH QoS 1, id 1, Response Topic C3 28 (a lead byte without its continuation).
        peer.send(packet(0x32, str(name), u16(1), props([0x08], rawStr('c3 28')), 'ff'));
        await expectDisconnected(peer, 0x81);
      },
    },
    ...['#', '+'].map(
      (wildcard): WireCase => ({
      name: `[MQTT-3.3.2-14] [MQTT-3.14.2-2] a Response Topic with the wildcard ${wildcard} is a protocol error: DISCONNECT 0x82, without Session Expiry Interval`,
      levels: [5],
      async run(peer, name, wire) {
        const watcher = await watch(wire, peer, name);
        peer.send(connectOf(5, name));
        await peer.next('CONNACK');
        peer.send(publishOf(name, 'ask', { properties: { responseTopic: `${name}/${wildcard}` } }));
        await expectDisconnected(peer, 0x82);
        // Not forwarded.
        await expectMarkerFirst(watcher, name);
        watcher.close();
      },
    }),
    ),
    {
      name: '[MQTT-3.3.4-5] a shared and a non-shared subscription of one session give two copies, each with its own Subscription Identifier',
      levels: [5],
      mosquitto: true,
      async run(peer, name, wire) {
        peer.send(connectOf(5, name));
        await peer.next('CONNACK');
        await subscribe(peer, 1, [
          { topic: `$share/g/${name}`, id: 11 },
          { topic: name, id: 22 },
        ]);
        const publisher = await connected(wire, peer.transport, 5, `${name}-pub`);
        publisher.send(publishOf(name, 'both', { messageId: 5 }));
        await publisher.expect({ cmd: 'puback', messageId: 5 });
        const copies = [await peer.expect({ cmd: 'publish', topic: name }), await peer.expect({ cmd: 'publish', topic: name })];
        const ids = copies.map(({ packet: copy }) => (copy.cmd === 'publish' ? copy.properties?.subscriptionIdentifier : undefined));
        expect(ids.sort()).toEqual([11, 22]);
        publisher.close();
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});

describe('UNSUBSCRIBE of several filters', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-3.10.4-6] [MQTT-3.11.3-1] an UNSUBSCRIBE of several filters removes each, with one UNSUBACK whose reason codes follow the filters',
      levels: [4, 5],
      mosquitto: true,
      async run(peer, name, wire) {
        peer.send(connectOf(peer.level, name));
        await peer.next('CONNACK');
        const [a, b, c, never] = ['a', 'b', 'c', 'never'].map((leaf) => `${name}/${leaf}`) as [string, string, string, string];
        await subscribe(peer, 1, [{ topic: a }, { topic: b }, { topic: c }]);
        peer.send({ cmd: 'unsubscribe', messageId: 10, unsubscriptions: [a, never, c] });
        // 5.0: Success, No subscription existed (0x11), Success, no properties; 3.1.1 has no reason codes.
        await peer.expect(peer.level === 5 ? 'b0 06 00 0a 00 00 11 00' : 'b0 02 00 0a');
        const publisher = await connected(wire, peer.transport, peer.level, `${name}-pub`);
        for (const [messageId, topic] of [a, c, b].entries()) {
          publisher.send(publishOf(topic, topic, { messageId: messageId + 1 }));
          await publisher.expect({ cmd: 'puback', messageId: messageId + 1 });
        }
        // a and c were published first: only b's message arrives.
        expect(payloadOf(await peer.expect({ cmd: 'publish' }))).toBe(b);
        publisher.close();
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
