/**
 * Packet-level conformance of the client's Maximum Packet Size (5.0): the
 * server sends nothing larger [MQTT-3.1.2-24]. It leaves out what it may
 * (Reason String, User Properties, CONNACK properties that say what their
 * absence says), refuses a CONNECT whose CONNACK cannot fit, and does not
 * send a packet that cannot [MQTT-3.1.2-25]. Over TCP through the sidecar
 * and over WebSocket (harness: wire.ts; decisions:
 * docs/conformance-decisions.md).
 */
import { describe, expect, it } from 'vitest';
import { connected, connectOf, useWireStack, wireTests, type WireCase, type WirePeer } from './wire.ts';

const stack = useWireStack();

/** The CONNACK a client with room for 20 bytes gets: Receive Maximum 1024, Maximum Packet Size 1 MiB, Topic Alias Maximum 32; the "available" flags left out. */
const ConnackWithin20 = '20 0e 00 00 0b 21 04 00 27 00 10 00 00 22 00 20';

async function connectWithin(peer: WirePeer, clientId: string, maximumPacketSize: number): Promise<void> {
  peer.send(connectOf(5, clientId, { properties: { maximumPacketSize } }));
  await peer.expect(ConnackWithin20);
}

describe("the client's Maximum Packet Size", () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-3.1.2-24] [MQTT-3.1.2-25] a CONNACK too large for the client leaves out the properties whose absence means the same',
      levels: [5],
      async run(peer, name) {
        await connectWithin(peer, name, 20);
        await peer.roundTrip();
      },
    },
    ...(
      [
        ['[MQTT-3.1.2-24] a CONNECT no CONNACK can fit (Maximum Packet Size 2) is closed without a CONNACK', 2, {}, undefined],
        ['[MQTT-3.1.2-24] a CONNECT whose accepting CONNACK cannot fit, but a refusal can, gets CONNACK 0x95 Packet too large', 10, {}, '20 03 00 95 00'],
        // An authentication method the broker does not support: CONNACK 0x8C, with a reason string when there is room.
        ['[MQTT-3.1.2-24] [MQTT-3.2.2-19] a refusing CONNACK leaves out its Reason String when it would not fit', 8, { authenticationMethod: 'no-such-method' }, '20 03 00 8c 00'],
      ] as const
    ).map(
      ([title, maximumPacketSize, properties, refusal]): WireCase => ({
        name: title,
        levels: [5],
        // mosquitto closes without the CONNACK 0x95 (a MAY): the other two rows run against it.
        ...(maximumPacketSize === 10 ? {} : { mosquitto: true }),
        async run(peer, name) {
          peer.send(connectOf(5, name, { properties: { maximumPacketSize, ...properties } }));
          if (refusal !== undefined) await peer.expect(refusal);
          await peer.expectClose();
        },
      }),
    ),
    {
      name: '[MQTT-3.1.2-24] [MQTT-3.14.2-3] a DISCONNECT leaves out its Reason String when it would not fit',
      levels: [5],
      async run(peer, name) {
        await connectWithin(peer, name, 20);
        // A second CONNECT is a Protocol Error [MQTT-3.1.0-2]: DISCONNECT 0x82, its reason string left out.
        peer.send(connectOf(5, name));
        const [disconnect, ...rest] = await peer.closedAfter();
        expect(rest).toEqual([]);
        expect(disconnect?.packet).toMatchObject({ cmd: 'disconnect', reasonCode: 0x82 });
        expect(disconnect?.bytes.byteLength).toBeLessThanOrEqual(20);
      },
    },
    {
      name: '[MQTT-3.1.2-24] [MQTT-3.1.2-25] a SUBACK that cannot fit is not sent, and the connection goes on',
      levels: [5],
      async run(peer, name) {
        await connectWithin(peer, name, 20);
        // 16 filters: SUBACK 2 + 2 + 1 + 16 = 21 bytes, one too many.
        const subscriptions = Array.from({ length: 16 }, (_, i) => ({ topic: `${name}/${i}`, qos: 0 as const }));
        peer.send({ cmd: 'subscribe', messageId: 1, subscriptions });
        peer.send({ cmd: 'subscribe', messageId: 2, subscriptions: subscriptions.slice(0, 15) });
        // Packets of a connection are answered in order: the second SUBACK (20 bytes) comes first.
        await peer.expect({ cmd: 'suback', messageId: 2 });
        await peer.roundTrip();
      },
    },
    {
      name: '[MQTT-3.1.2-24] [MQTT-3.1.2-25] a PUBLISH too large for the subscriber is not sent to it, the next one is',
      levels: [5],
      async run(peer, name, wire) {
        await connectWithin(peer, name, 20);
        // A short topic: the PUBLISH of 'ok' is 13 bytes, the one of 30 bytes 41.
        const topic = `ps-${peer.transport}`;
        peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
        await peer.expect({ cmd: 'suback', messageId: 1, granted: [0] });
        const publisher = await connected(wire, peer.transport, 5, `${name}-publisher`);
        publisher.send({ cmd: 'publish', topic, payload: Buffer.alloc(30, 0x61), qos: 1, messageId: 1, retain: false, dup: false });
        publisher.send({ cmd: 'publish', topic, payload: Buffer.from('ok'), qos: 1, messageId: 2, retain: false, dup: false });
        await publisher.expect({ cmd: 'puback', messageId: 1 });
        await publisher.expect({ cmd: 'puback', messageId: 2 });
        publisher.close();
        const received = await peer.expect({ cmd: 'publish', topic });
        expect(Buffer.from(received.packet.cmd === 'publish' ? received.packet.payload : '').toString()).toBe('ok');
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
