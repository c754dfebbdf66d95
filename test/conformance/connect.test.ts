/**
 * Packet-level conformance of CONNECT and CONNACK: a CONNECT that does not
 * conform is closed without a CONNACK (3.x) and a CONNACK never exceeds the
 * client's Maximum Packet Size (5.0). Over TCP through the sidecar and over
 * WebSocket (harness: wire.ts).
 */
import { describe, it } from 'vitest';
import { hex, useWireStack, wireTests, type WireCase } from './wire.ts';

const stack = useWireStack();

describe('a CONNECT that does not conform', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-3.1.4-1] [MQTT-3.2.2-6] [MQTT-4.7.3-1] a zero-length will topic: the connection is closed without a CONNACK',
      levels: [3, 4],
      mosquitto: true,
      async run(peer) {
        // Will flag and clean session; client id "a", will topic "", will message "".
        peer.send(peer.level === 3 ? hex('10 13 00 06 4d 51 49 73 64 70 03 06 00 00 00 01 61 00 00 00 00') : hex('10 11 00 04 4d 51 54 54 04 06 00 00 00 01 61 00 00 00 00'));
        await peer.expectClose();
      },
    },
    ...(
      [
        ['[MQTT-3.1.4-1] [MQTT-4.7.3-1] a zero-length will topic: CONNACK 0x90 Topic Name invalid, then the connection is closed', '10 13 00 04 4d 51 54 54 05 06 00 00 00 00 01 61 00 00 00 00 00', 0x90],
        // Will Properties: Payload Format Indicator 2 (docs/conformance-decisions.md).
        ['[MQTT-3.1.4-1] [MQTT-4.13.1-1] a will with a Payload Format Indicator other than 0 or 1: CONNACK 0x82 Protocol Error', '10 16 00 04 4d 51 54 54 05 06 00 00 00 00 01 61 02 01 02 00 01 74 00 00', 0x82],
      ] as const
    ).map(
      ([name, bytes, reasonCode]): WireCase => ({
        name,
        levels: [5],
        async run(peer) {
          // Clean session and a will; client id "a", will topic and message as the row says.
          peer.send(hex(bytes));
          await peer.expectOnlyThenClose({ cmd: 'connack', reasonCode });
        },
      }),
    ),
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
