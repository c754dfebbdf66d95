/**
 * Packet-level conformance of what a 5.0 will carries to its subscribers:
 * its User Properties in the order the client wrote them [MQTT-3.1.3-10],
 * names interleaved, whether the will goes out at once or after its delay
 * from the stored session. Over TCP through the sidecar and over WebSocket
 * (harness: wire.ts).
 */
import { describe, expect, it } from 'vitest';
import { decodeAll } from '../../shared/codec/decoder.ts';
import { userPropertyPairs, type UserPropertyPair } from '../../shared/codec/user-properties.ts';
import { concat, connectBody, packet, props, str, u16 } from '../unit/codec/helpers.ts';
import { connected, useWireStack, wireTests, type WirePeer, type WireStack } from './wire.ts';

const stack = useWireStack();

/** The pairs of a received PUBLISH's User Properties in wire order (mqtt-packet groups them by name; the broker's decoder keeps the order). */
function userPropertyPairsOf(bytes: Uint8Array): UserPropertyPair[] {
  const [publish] = decodeAll(bytes, 5).packets;
  const properties = publish?.cmd === 'publish' ? publish.properties?.userProperties : undefined;
  return properties === undefined ? [] : userPropertyPairs(properties);
}

/** Interleaved names, a repeated value and an empty one: what an object keyed by name cannot keep. */
const Pairs: UserPropertyPair[] = [
  ['a', '1'],
  ['b', '2'],
  ['a', '3'],
  ['c', ''],
  ['b', '2'],
];

/**
 * A 5.0 CONNECT, clean, with a will on `topic` carrying `Pairs` in their
 * order (written by hand: mqtt-packet's encoder groups User Properties by
 * name) and a Session Expiry Interval.
 */
function connectWithOrderedWill(clientId: string, topic: string, delay: number, expiry: number): Uint8Array {
  const u32 = (value: number): Uint8Array => concat(u16(Math.floor(value / 0x10000)), u16(value % 0x10000));
  const willProperties = props([0x18], u32(delay), ...Pairs.map(([name, value]) => concat([0x26], str(name), str(value))));
  // Will flag and Clean Start; keep-alive 0.
  return packet(0x10, connectBody({ level: 5, flags: 0b0000_0110, keepAlive: 0, properties: props([0x11], u32(expiry)), payload: [str(clientId), willProperties, str(topic), str('gone')] }));
}

/** A 5.0 client subscribed to `topic` over the peer's transport. */
async function watch(wire: WireStack, peer: WirePeer, topic: string): Promise<WirePeer> {
  const watcher = await connected(wire, peer.transport, 5, `${topic}-watcher`);
  watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
  await watcher.expect({ cmd: 'suback', messageId: 1 });
  return watcher;
}

describe('a will\'s User Properties', () => {
  for (const test of wireTests(stack, [
    ...[0, 1].map((delay) => ({
      name: `[MQTT-3.1.3-10] a will's User Properties go out in the order the client wrote them, names interleaved (Will Delay ${delay} s)`,
      levels: [5] as const,
      mosquitto: true as const,
      async run(peer: WirePeer, name: string, wire: WireStack) {
        const watcher = await watch(wire, peer, name);
        // With a delay, the will waits in the stored session (Session Expiry 60) and is read back from it.
        peer.send(connectWithOrderedWill(name, name, delay, delay === 0 ? 0 : 60));
        await peer.expect({ cmd: 'connack', reasonCode: 0 });
        peer.close();
        const will = await watcher.expect({ cmd: 'publish', topic: name });
        expect(userPropertyPairsOf(will.bytes)).toEqual(Pairs);
        watcher.close();
      },
    })),
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
