/**
 * Packet-level conformance of the QoS 1 and QoS 2 flows (5.0): a packet
 * identifier free again after its acknowledgement, a PUBREL kept until its
 * PUBCOMP, and failing acknowledgements that end a delivery. Over TCP
 * through the sidecar and over WebSocket (harness: wire.ts).
 */
import type mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { expectMarkerFirst, secondsPassed, watch } from './observe.ts';
import { connectOf, useWireStack, wireTests, type WireCase, type WirePeer, type WireStack } from './wire.ts';

const stack = useWireStack();

const publishOf = (topic: string, payload: string | Uint8Array, extra: Partial<mqttPacket.IPublishPacket>): mqttPacket.IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain: false,
  dup: false,
  ...extra,
});

const payloadOf = (packet: mqttPacket.Packet): string => (packet.cmd === 'publish' ? packet.payload.toString() : packet.cmd);

/** Connects `peer` (5.0, clean) as a publisher to `topic`, watched by another client; returns the watcher. */
async function watchedPublisher(wire: WireStack, peer: WirePeer, topic: string): Promise<WirePeer> {
  const watcher = await watch(wire, peer, topic);
  peer.send(connectOf(5, topic));
  await peer.next('CONNACK');
  return watcher;
}

/**
 * `publisher` publishes at QoS 2 through to PUBCOMP: a broker may forward a
 * QoS 2 message on its PUBLISH (this one) or on its PUBREL (mosquitto), both
 * as 4.3.3 allows. What else arrives on the way (the publisher's own copies)
 * is passed over.
 */
async function publishedQos2(publisher: WirePeer, packet: mqttPacket.IPublishPacket): Promise<void> {
  const messageId = packet.messageId as number;
  publisher.send({ ...packet, qos: 2 });
  for (;;) {
    const { packet: answer } = await publisher.next('PUBREC, then PUBCOMP');
    if (answer.cmd === 'pubrec' && answer.messageId === messageId) publisher.send({ cmd: 'pubrel', messageId });
    if (answer.cmd === 'pubcomp' && answer.messageId === messageId) return;
  }
}

/** The watcher gets exactly these messages on `topic` next, in order; then it is closed. */
async function expectMessages(watcher: WirePeer, topic: string, payloads: readonly string[]): Promise<void> {
  for (const payload of payloads) expect(payloadOf((await watcher.expect({ cmd: 'publish', topic })).packet)).toBe(payload);
  watcher.close();
}

/** A 5.0 persistent session (Session Expiry 60) subscribed to `topic` at QoS 2, connected on `peer`. */
async function subscriber(peer: WirePeer, clientId: string, topic: string): Promise<void> {
  peer.send(connectOf(5, clientId, { clean: false, properties: { sessionExpiryInterval: 60 } }));
  await peer.next('CONNACK');
  peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
  await peer.expect({ cmd: 'suback', messageId: 1 });
}

/** The session of `clientId` back on a new connection, which must not be given a message again: the marker comes first. */
async function backWithNothingResent(wire: WireStack, peer: WirePeer, clientId: string, topic: string): Promise<void> {
  // What was sent is handled before the close (a WebSocket closed at once may not send it).
  await peer.roundTrip();
  peer.close();
  await wire.ended(clientId);
  const back = await wire.open(peer.transport, 5);
  back.send(connectOf(5, clientId, { clean: false, properties: { sessionExpiryInterval: 60 } }));
  await back.expect({ cmd: 'connack', sessionPresent: true });
  await expectMarkerFirst(back, topic);
  back.close();
}

describe('QoS 1 and QoS 2 flows', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-4.3.2-5] after its PUBACK, a QoS 1 PUBLISH with the same identifier is a new message, DUP or not',
      levels: [5],
      mosquitto: true,
      async run(peer, name, wire) {
        const watcher = await watchedPublisher(wire, peer, name);
        for (const [payload, dup] of [['one', false], ['two', true]] as const) {
          peer.send(publishOf(name, payload, { messageId: 5, dup }));
          await peer.expect({ cmd: 'puback', messageId: 5 });
        }
        await expectMessages(watcher, name, ['one', 'two']);
      },
    },
    {
      name: '[MQTT-4.3.3-12] after its PUBCOMP, a QoS 2 PUBLISH with the same identifier is a new message',
      levels: [5],
      mosquitto: true,
      async run(peer, name, wire) {
        const watcher = await watchedPublisher(wire, peer, name);
        for (const payload of ['one', 'two']) {
          peer.send(publishOf(name, payload, { qos: 2, messageId: 6 }));
          await peer.expect({ cmd: 'pubrec', messageId: 6 });
          peer.send({ cmd: 'pubrel', messageId: 6 });
          await peer.expect({ cmd: 'pubcomp', messageId: 6 });
        }
        await expectMessages(watcher, name, ['one', 'two']);
      },
    },
    {
      name: '[MQTT-4.3.3-9] after a PUBREC of 0x80 or above, a QoS 2 PUBLISH with the same identifier is a new message',
      levels: [5],
      async run(peer, name, wire) {
        const watcher = await watchedPublisher(wire, peer, name);
        // Payload Format Indicator 1 and a payload that is not UTF-8: PUBREC 0x99, nothing routed [MQTT-3.3.2-4].
        peer.send(publishOf(name, Uint8Array.of(0xff), { qos: 2, messageId: 8, properties: { payloadFormatIndicator: true } }));
        await peer.expect({ cmd: 'pubrec', messageId: 8, reasonCode: 0x99 });
        peer.send(publishOf(name, 'new', { qos: 2, messageId: 8 }));
        await peer.expect({ cmd: 'pubrec', messageId: 8, reasonCode: 0 });
        peer.send({ cmd: 'pubrel', messageId: 8 });
        await peer.expect({ cmd: 'pubcomp', messageId: 8 });
        await expectMessages(watcher, name, ['new']);
      },
    },
    {
      name: '[MQTT-4.3.3-5] a PUBREL the client has not answered with PUBCOMP is sent again when its session comes back',
      levels: [5],
      mosquitto: true,
      async run(peer, name, wire) {
        await subscriber(peer, name, name);
        const publisher = await watch(wire, peer, name);
        await publishedQos2(publisher, publishOf(name, 'once', { messageId: 3 }));
        const { packet: delivered } = await peer.expect({ cmd: 'publish', topic: name, qos: 2 });
        const id = delivered.cmd === 'publish' ? (delivered.messageId as number) : 0;
        peer.send({ cmd: 'pubrec', messageId: id });
        await peer.expect({ cmd: 'pubrel', messageId: id });
        // Gone without PUBCOMP.
        peer.close();
        await wire.ended(name);
        const back = await wire.open(peer.transport, 5);
        back.send(connectOf(5, name, { clean: false, properties: { sessionExpiryInterval: 60 } }));
        await back.expect({ cmd: 'connack', sessionPresent: true });
        await back.expect({ cmd: 'pubrel', messageId: id });
        back.send({ cmd: 'pubcomp', messageId: id });
        // Acknowledged now: a further return gets nothing again.
        await backWithNothingResent(wire, back, name, name);
        publisher.close();
      },
    },
    {
      name: '[MQTT-4.3.3-7] a QoS 2 message sent before its Message Expiry Interval passed is still completed after it, across a reconnect; one not yet sent expires',
      levels: [5],
      async run(peer, name, wire) {
        // Receive Maximum 1: the first message goes out, the second waits in the session.
        peer.send(connectOf(5, name, { clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } }));
        await peer.next('CONNACK');
        peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: name, qos: 2 }] });
        await peer.expect({ cmd: 'suback', messageId: 1 });
        const publisher = await watch(wire, peer, `${name}/publisher`);
        for (const [messageId, payload] of [[1, 'sent'], [2, 'queued']] as const) await publishedQos2(publisher, publishOf(name, payload, { messageId, properties: { messageExpiryInterval: 1 } }));
        const { packet: sent } = await peer.expect({ cmd: 'publish', topic: name, qos: 2 });
        expect(payloadOf(sent)).toBe('sent');
        const id = sent.cmd === 'publish' ? (sent.messageId as number) : 0;
        // Gone without PUBREC until both messages' expiry has passed.
        peer.close();
        await secondsPassed(wire, peer, name, 1);
        const back = await wire.open(peer.transport, 5);
        back.send(connectOf(5, name, { clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } }));
        await back.expect({ cmd: 'connack', sessionPresent: true });
        const again = await back.expect({ cmd: 'publish', topic: name, qos: 2, dup: true, messageId: id });
        expect(payloadOf(again.packet)).toBe('sent');
        back.send({ cmd: 'pubrec', messageId: id });
        await back.expect({ cmd: 'pubrel', messageId: id });
        back.send({ cmd: 'pubcomp', messageId: id });
        // The queued one expired [MQTT-3.3.2-5]: the marker comes first.
        await expectMarkerFirst(back, name);
        back.close();
        publisher.close();
      },
    },
    {
      name: '[MQTT-4.3.3-13] a QoS 2 PUBLISH whose Message Expiry Interval passes before its PUBREL is still answered with PUBCOMP',
      levels: [5],
      mosquitto: true,
      async run(peer, name, wire) {
        peer.send(connectOf(5, name));
        await peer.next('CONNACK');
        peer.send(publishOf(name, 'brief', { qos: 2, messageId: 12, properties: { messageExpiryInterval: 1 } }));
        await peer.expect({ cmd: 'pubrec', messageId: 12 });
        await secondsPassed(wire, peer, name, 1);
        peer.send({ cmd: 'pubrel', messageId: 12 });
        await peer.expect({ cmd: 'pubcomp', messageId: 12, reasonCode: 0 });
      },
    },
    ...(['puback', 'pubrec'] as const).map(
      (ack): WireCase => ({
      name: `[MQTT-4.4.0-2] a ${ack.toUpperCase()} of 0x80 acknowledges the message: it is not sent again when the session comes back`,
      levels: [5],
      mosquitto: true,
      async run(peer, caseName, wire) {
        // Both rows share the case's name: each its own session.
        const name = `${caseName}-${ack}`;
        await subscriber(peer, name, name);
        const publisher = await watch(wire, peer, name);
        if (ack === 'pubrec') await publishedQos2(publisher, publishOf(name, 'refused', { messageId: 4 }));
        else publisher.send(publishOf(name, 'refused', { messageId: 4 }));
        const { packet: delivered } = await peer.expect({ cmd: 'publish', topic: name });
        const id = delivered.cmd === 'publish' ? (delivered.messageId as number) : 0;
        peer.send({ cmd: ack, messageId: id, reasonCode: 0x80 });
        await backWithNothingResent(wire, peer, name, name);
        publisher.close();
      },
    }),
    ),
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
