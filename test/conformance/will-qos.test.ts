/**
 * Packet-level conformance of a CONNECT refused for a will the server
 * cannot publish as asked: a Maximum QoS of 1 and a will of QoS 2. The
 * refusal says so (5.0: 0x9B; 3.1.1: 3), never Session Present, even for a
 * client id whose session is stored. Over TCP through the sidecar and over
 * WebSocket (harness: wire.ts).
 */
import { describe, expect, it } from 'vitest';
import type { ProtocolLevel } from '../../shared/codec/types.ts';
import { connectOf, useWireStack, wireTests, type WirePeer, type WireStack } from './wire.ts';

const stack = useWireStack({ MQTT_MAXIMUM_QOS: '1' });

const persistent = (level: ProtocolLevel) => ({ clean: false, ...(level === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) });

/** Leaves a stored session for `clientId`: connected without clean session, then DISCONNECT. */
async function storeSession(wire: WireStack, peer: WirePeer, clientId: string): Promise<WirePeer> {
  peer.send(connectOf(peer.level, clientId, persistent(peer.level)));
  await peer.next('CONNACK');
  peer.send({ cmd: 'disconnect' });
  await peer.expectClose();
  await wire.ended(clientId);
  return wire.open(peer.transport, peer.level);
}

/** A CONNECT of `clientId` resuming its session with a will of QoS 2. */
const connectWithQos2Will = (level: ProtocolLevel, clientId: string) =>
  connectOf(level, clientId, { ...persistent(level), will: { topic: `${clientId}/will`, payload: Buffer.from('gone'), qos: 2, retain: false } });

describe('a will above the Maximum QoS', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-3.2.2-12] a will of QoS 2 on a server of Maximum QoS 1 is refused with CONNACK 0x9B, then the connection is closed',
      levels: [5],
      async run(peer, name) {
        peer.send(connectOf(5, name, { will: { topic: `${name}/will`, payload: Buffer.from('gone'), qos: 2, retain: false } }));
        const before = await peer.closedAfter();
        expect(before.map(({ packet }) => packet)).toMatchObject([{ cmd: 'connack', sessionPresent: false, reasonCode: 0x9b }]);
      },
    },
    {
      // 3.2.2-4 is the 3.1.1 statement, 3.2.2-6 the 5.0 one.
      name: '[MQTT-3.2.2-4] [MQTT-3.2.2-6] a refusal of a client id whose session is stored has Session Present 0',
      levels: [4, 5],
      async run(peer, name, wire) {
        const again = await storeSession(wire, peer, name);
        again.send(connectWithQos2Will(peer.level, name));
        const before = await again.closedAfter();
        // mqtt-packet reads Session Present from the flags byte and refuses one with reserved bits set.
        expect(before.map(({ packet }) => packet)).toMatchObject([{ cmd: 'connack', sessionPresent: false, ...(peer.level === 5 ? { reasonCode: 0x9b } : { returnCode: 3 }) }]);
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
