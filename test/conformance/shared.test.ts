/**
 * Packet-level conformance of 5.0 shared subscriptions: each member at its
 * own granted QoS, a QoS 2 delivery that stays with its member across a
 * reconnect, and a failing acknowledgement that ends a delivery for the
 * whole group. The broker gives a group's messages to its connected members
 * in turn (edge/core/router.ts, `pickShareMember`), so two messages give one
 * to each of two members. Over TCP through the sidecar and over WebSocket
 * (harness: wire.ts).
 */
import { describe, expect, it } from 'vitest';
import type { QoS } from '../../shared/codec/types.ts';
import { expectMarkerFirst } from './observe.ts';
import { connected, connectOf, useWireStack, wireTests, type Received, type WirePeer, type WireStack } from './wire.ts';

const stack = useWireStack();

const Persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };

/** Joins `peer` (connected) to `$share/g/<topic>` at `qos`. */
async function join(peer: WirePeer, topic: string, qos: QoS): Promise<void> {
  peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/g/${topic}`, qos }] });
  await peer.expect({ cmd: 'suback', messageId: 1, granted: [qos] });
}

/** Two members, `a` persistent, and a publisher; the publisher sends two messages at `qos`, one for each member. */
async function group(wire: WireStack, peer: WirePeer, name: string, qos: { a: QoS; b: QoS; messages: QoS }): Promise<{ a: WirePeer; b: WirePeer; publisher: WirePeer; got: { a: Received; b: Received } }> {
  const a = peer;
  a.send(connectOf(5, `${name}-a`, Persistent));
  await a.next('CONNACK');
  await join(a, name, qos.a);
  const b = await connected(wire, peer.transport, 5, `${name}-b`);
  await join(b, name, qos.b);
  const publisher = await connected(wire, peer.transport, 5, `${name}-pub`);
  for (const messageId of [1, 2]) {
    publisher.send({ cmd: 'publish', topic: name, payload: Buffer.from(`m${messageId}`), qos: qos.messages, messageId, retain: false, dup: false });
    await publisher.next(qos.messages === 2 ? 'PUBREC' : 'PUBACK');
    if (qos.messages !== 2) continue;
    // Through to PUBCOMP: a broker may forward a QoS 2 message on its PUBREL (mosquitto) as well as on its PUBLISH (4.3.3).
    publisher.send({ cmd: 'pubrel', messageId });
    await publisher.expect({ cmd: 'pubcomp', messageId });
  }
  const got = { a: await a.expect({ cmd: 'publish', topic: name, qos: Math.min(qos.a, qos.messages) }), b: await b.expect({ cmd: 'publish', topic: name, qos: Math.min(qos.b, qos.messages) }) };
  return { a, b, publisher, got };
}

const idOf = (received: Received): number => (received.packet.cmd === 'publish' ? (received.packet.messageId as number) : 0);
const payloadOf = (received: Received): string => (received.packet.cmd === 'publish' ? received.packet.payload.toString() : received.packet.cmd);

/** `a` (its session kept) goes without a further packet; once the edge has ended it, `b` gets nothing of a's before a marker. */
async function aGoesAndBGetsNothing(wire: WireStack, a: WirePeer, b: WirePeer, name: string): Promise<void> {
  // What a sent is handled before the close (a WebSocket closed at once may not send it).
  await a.roundTrip();
  a.close();
  await wire.ended(`${name}-a`);
  // The marker goes to the group: b is its only connected member.
  await expectMarkerFirst(b, name);
}

describe('shared subscriptions', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-4.8.2-3] each member of a share group gets its messages at its own granted QoS (0 and 2)',
      levels: [5],
      mosquitto: true,
      async run(peer, name, wire) {
        const { a, b, publisher, got } = await group(wire, peer, name, { a: 0, b: 2, messages: 2 });
        expect([got.a.packet.cmd === 'publish' && got.a.packet.qos, got.b.packet.cmd === 'publish' && got.b.packet.qos]).toEqual([0, 2]);
        expect([payloadOf(got.a), payloadOf(got.b)].sort()).toEqual(['m1', 'm2']);
        for (const client of [a, b, publisher]) client.close();
      },
    },
    {
      name: '[MQTT-4.8.2-4] a QoS 2 delivery to a member cut by its disconnect is completed with that member when it reconnects, not given to another',
      levels: [5],
      async run(peer, name, wire) {
        const { a, b, publisher, got } = await group(wire, peer, name, { a: 2, b: 2, messages: 2 });
        // a neither acknowledges nor stays.
        await aGoesAndBGetsNothing(wire, a, b, name);
        const back = await wire.open(peer.transport, 5);
        back.send(connectOf(5, `${name}-a`, Persistent));
        await back.expect({ cmd: 'connack', sessionPresent: true });
        const again = await back.expect({ cmd: 'publish', topic: name, qos: 2, dup: true, messageId: idOf(got.a) });
        expect(payloadOf(again)).toBe(payloadOf(got.a));
        back.send({ cmd: 'pubrec', messageId: idOf(got.a) });
        await back.expect({ cmd: 'pubrel', messageId: idOf(got.a) });
        back.send({ cmd: 'pubcomp', messageId: idOf(got.a) });
        await back.roundTrip();
        for (const client of [back, b, publisher]) client.close();
      },
    },
    {
      name: '[MQTT-4.8.2-6] a PUBACK of 0x80 from a member discards the message: no other member gets it when that member leaves',
      levels: [5],
      async run(peer, name, wire) {
        const { a, b, publisher, got } = await group(wire, peer, name, { a: 1, b: 1, messages: 1 });
        b.send({ cmd: 'puback', messageId: idOf(got.b) });
        a.send({ cmd: 'puback', messageId: idOf(got.a), reasonCode: 0x80 });
        // Unacknowledged, a's message would go to b as a leaves (a QoS 1 one held by a leaving member moves on).
        await aGoesAndBGetsNothing(wire, a, b, name);
        for (const client of [b, publisher]) client.close();
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
