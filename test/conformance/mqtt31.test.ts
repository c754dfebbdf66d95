/**
 * Packet-level conformance of what MQTT 3.1 (MQIsdp) does not share with
 * 3.1.1: a CONNACK without Session Present, client ids, and a SUBACK with
 * no failure code. Over TCP through the sidecar and over WebSocket
 * (harness: wire.ts; decisions: docs/conformance-decisions.md, "MQTT 3.1").
 */
import { describe, expect, it } from 'vitest';
import { connected, connectOf, hex, useWireStack, wireTests, type WireCase } from './wire.ts';

/** Two subscriptions per client, so that a third is refused (Quota exceeded: 0x97 at 5.0, 0x80 at 3.1.1). */
const stack = useWireStack({ MQTT_MAX_SUBSCRIPTIONS: '2' });

describe('MQTT 3.1', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-v3.1-3.2] a CONNACK to a 3.1 client resuming a stored session is 20 02 00 00: no Session Present flag',
      levels: [3],
      mosquitto: true,
      async run(peer, name, wire) {
        peer.send(connectOf(3, name, { clean: false }));
        await peer.expect('20 02 00 00');
        peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: name, qos: 1 }] });
        await peer.expect('90 03 00 01 01');
        peer.send({ cmd: 'disconnect' });
        await peer.expectClose();
        await wire.ended(name);
        // A message for the stored session while it is offline: it is there when the client comes back.
        const publisher = await connected(wire, peer.transport, 3, `${name}-pub`);
        publisher.send({ cmd: 'publish', topic: name, payload: Buffer.from('kept'), qos: 1, messageId: 2, retain: false, dup: false });
        await publisher.expect({ cmd: 'puback', messageId: 2 });
        const back = await wire.open(peer.transport, 3);
        back.send(connectOf(3, name, { clean: false }));
        await back.expect('20 02 00 00');
        const queued = await back.expect({ cmd: 'publish', topic: name, qos: 1 });
        expect(queued.packet.cmd === 'publish' ? queued.packet.payload.toString() : '').toBe('kept');
        back.close();
        publisher.close();
      },
    },
    ...[23, 24, 65].map(
      (length): WireCase => ({
        name: `[MQTT-v3.1-3.1] a 3.1 client id of ${length} characters is accepted`,
        levels: [3],
        // Longer ones are a deliberate difference from 3.1 (docs/conformance-decisions.md), though mosquitto's too.
        ...(length <= 23 ? { mosquitto: true } : {}),
        async run(peer, name) {
          const clientId = `${name}-${'x'.repeat(length)}`.slice(0, length);
          peer.send(connectOf(3, clientId));
          await peer.expect('20 02 00 00');
          await peer.roundTrip();
        },
      }),
    ),
    {
      name: '[MQTT-v3.1-3.1] an empty 3.1 client id is refused with return code 2, then the connection is closed',
      levels: [3],
      mosquitto: true,
      async run(peer) {
        // CONNECT "MQIsdp" 3, clean session, keep-alive 0, client id "": mqtt-packet will not write it.
        peer.send(hex('10 0e 00 06 4d 51 49 73 64 70 03 02 00 00 00 00'));
        await peer.expect('20 02 00 02');
        await peer.expectClose();
      },
    },
    {
      name: '[MQTT-v3.1-3.9] a refused 3.1 subscription is answered with a granted QoS, not 0x80, and nothing is delivered for it',
      levels: [3],
      async run(peer, name, wire) {
        peer.send(connectOf(3, name));
        await peer.expect('20 02 00 00');
        // The third filter is over the limit of two per client.
        peer.send({ cmd: 'subscribe', messageId: 3, subscriptions: [`${name}/a`, `${name}/b`, `${name}/refused`].map((topic) => ({ topic, qos: 1 as const })) });
        await peer.expect('90 05 00 03 01 01 01');
        // Published first, the refused filter's message would arrive first: the peer gets only the granted one's.
        const publisher = await connected(wire, peer.transport, 3, `${name}-pub`);
        for (const [messageId, topic] of [[4, `${name}/refused`], [5, `${name}/a`]] as const) {
          publisher.send({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 1, messageId, retain: false, dup: false });
          await publisher.expect({ cmd: 'puback', messageId });
        }
        await peer.expect({ cmd: 'publish', topic: `${name}/a` });
        publisher.close();
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
