/**
 * Packet-level conformance of what a connected client sends: fixed-header
 * flags per level, acknowledgements of the wrong kind, malformed topic
 * filters, and what a PUBLISH is answered with. Over TCP through the
 * sidecar and over WebSocket, at every level each rule applies to
 * (harness: wire.ts; decisions: docs/conformance-decisions.md).
 */
import { describe, expect } from 'vitest';
import { connectOf, hex, useWireStack, wireCases, type WireCase } from './wire.ts';

const stack = useWireStack();

describe('fixed-header flags', () => {
  wireCases(stack, [
    {
      ids: ['MQTT-v3.1-2.1'],
      title: 'a re-sent SUBSCRIBE, UNSUBSCRIBE and PUBREL may carry DUP in MQTT 3.1',
      levels: [3],
      async run(peer, name) {
        peer.send(connectOf(3, name));
        await peer.expect('20 02 00 00');
        // SUBSCRIBE 0x8A: DUP + QoS 1 (3.1 section 2.1: DUP applies to SUBSCRIBE, UNSUBSCRIBE and PUBREL re-sent).
        peer.send(hex('8a 08 00 07 00 03 61 2f 62 01'));
        await peer.expect('90 03 00 07 01');
        peer.send(hex('aa 07 00 08 00 03 61 2f 62'));
        await peer.expect('b0 02 00 08');
        // A QoS 2 PUBLISH, then its PUBREL sent twice, the second time with DUP.
        peer.send(hex('34 06 00 01 78 00 09 79'));
        await peer.expect('50 02 00 09');
        peer.send(hex('62 02 00 09'));
        await peer.expect('70 02 00 09');
        peer.send(hex('6a 02 00 09'));
        await peer.expect('70 02 00 09');
        await peer.roundTrip();
      },
    },
    ...[
      ['SUBSCRIBE', '8a 08 00 07 00 03 61 2f 62 01'],
      ['UNSUBSCRIBE', 'aa 07 00 08 00 03 61 2f 62'],
      ['PUBREL', '6a 02 00 09'],
    ].map(
      ([packet, bytes]): WireCase => ({
        ids: ['MQTT-2.2.2-1', 'MQTT-2.2.2-2'],
        title: `a ${packet} with DUP set is malformed after MQTT 3.1: the connection is closed`,
        levels: [4, 5],
        async run(peer, name) {
          peer.send(connectOf(peer.level, name));
          await peer.next('CONNACK');
          peer.send(hex(bytes as string));
          // 5.0 may say why first [MQTT-4.13.1-1]: DISCONNECT 0x81 Malformed Packet.
          expectOnlyDisconnect(await peer.closedAfter(), peer.level, 0x81);
        },
      }),
    ),
  ]);
});

/** Nothing before the close, or at 5.0 a DISCONNECT with `reason` and nothing else. */
function expectOnlyDisconnect(before: Array<{ packet: { cmd: string; reasonCode?: number } }>, level: number, reason: number): void {
  const seen = before.map(({ packet }) => `${packet.cmd}${packet.reasonCode === undefined ? '' : ` 0x${packet.reasonCode.toString(16)}`}`);
  expect(seen).toEqual(level === 5 && seen.length > 0 ? [`disconnect 0x${reason.toString(16)}`] : []);
}
