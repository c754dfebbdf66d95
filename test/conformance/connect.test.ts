/**
 * Packet-level conformance of CONNECT and CONNACK: a CONNECT that does not
 * conform is closed without a CONNACK (3.x) and a CONNACK never exceeds the
 * client's Maximum Packet Size (5.0). Over TCP through the sidecar and over
 * WebSocket (harness: wire.ts).
 */
import { describe } from 'vitest';
import { hex, useWireStack, wireCases } from './wire.ts';

const stack = useWireStack();

describe('a CONNECT that does not conform', () => {
  wireCases(stack, [
    {
      ids: ['MQTT-3.1.4-1', 'MQTT-3.2.2-6', 'MQTT-4.7.3-1'],
      title: 'a zero-length will topic: the connection is closed without a CONNACK',
      levels: [3, 4],
      async run(peer) {
        // Will flag and clean session; client id "a", will topic "", will message "".
        peer.send(peer.level === 3 ? hex('10 13 00 06 4d 51 49 73 64 70 03 06 00 00 00 01 61 00 00 00 00') : hex('10 11 00 04 4d 51 54 54 04 06 00 00 00 01 61 00 00 00 00'));
        await peer.expectClose();
      },
    },
    {
      ids: ['MQTT-3.1.4-1', 'MQTT-4.7.3-1'],
      title: 'a zero-length will topic: CONNACK 0x90 Topic Name invalid, then the connection is closed',
      levels: [5],
      async run(peer) {
        peer.send(hex('10 13 00 04 4d 51 54 54 05 06 00 00 00 00 01 61 00 00 00 00 00'));
        const before = await peer.closedAfter();
        const connack = before[0]?.packet;
        if (before.length !== 1 || connack?.cmd !== 'connack' || connack.reasonCode !== 0x90) throw new Error(`expected only CONNACK 0x90, got ${JSON.stringify(before.map((received) => received.packet))}`);
      },
    },
  ]);
});
