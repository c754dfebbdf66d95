/**
 * Packet-level conformance of what a connected client sends: fixed-header
 * flags per level, acknowledgements of the wrong kind, malformed topic
 * filters, and what a PUBLISH is answered with. Over TCP through the
 * sidecar and over WebSocket, at every level each rule applies to
 * (harness: wire.ts; decisions: docs/conformance-decisions.md).
 */
import { describe, expect, it } from 'vitest';
import type { ProtocolLevel } from '../../shared/codec/types.ts';
import { connectOf, hex, useWireStack, wireTests, type WireCase, type WirePeer } from './wire.ts';

const stack = useWireStack();

describe('fixed-header flags', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-v3.1-2.1] a re-sent SUBSCRIBE, UNSUBSCRIBE and PUBREL may carry DUP (MQTT 3.1 only)',
      levels: [3],
      mosquitto: true,
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
        name: `[MQTT-2.2.2-1] [MQTT-2.2.2-2] a ${packet} with DUP set is malformed after MQTT 3.1: the connection is closed`,
        levels: [4, 5],
        mosquitto: true,
        async run(peer, name) {
          await peer.connect(name);
          peer.send(hex(bytes as string));
          // 5.0 says why first (4.13.1): DISCONNECT 0x81 Malformed Packet.
          expectOnlyDisconnect(await peer.closedAfter(), peer.level, 0x81);
        },
      }),
    ),
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});

describe('acknowledgements of the wrong kind', () => {
  for (const test of wireTests(stack, [
    ...(
      [
        [1, 'pubcomp', 'PUBCOMP for a QoS 1 message', 'MQTT-4.3.2-2'],
        [1, 'pubrec', 'PUBREC for a QoS 1 message', 'MQTT-4.3.2-2'],
        [2, 'puback', 'PUBACK for a QoS 2 message', 'MQTT-4.3.3-3'],
        [2, 'pubcomp', 'PUBCOMP before the PUBREC of a QoS 2 message', 'MQTT-4.3.3-3'],
      ] as const
    ).map(
      ([qos, wrong, what, flow]): WireCase => ({
        name: `[${flow}] [MQTT-4.8.0-1] [MQTT-4.13.1-1] ${what} is a protocol error: the connection is closed`,
        levels: [3, 4, 5],
        mosquitto: true,
        async run(peer, name) {
          await peer.connect(name);
          const messageId = await deliveredToSelf(peer, name, qos);
          peer.send({ cmd: wrong, messageId });
          // 5.0 says why first (4.13.1): DISCONNECT 0x82 Protocol Error.
          expectOnlyDisconnect(await peer.closedAfter(), peer.level, 0x82);
        },
      }),
    ),
    {
      name: '[MQTT-4.3.2-2] [MQTT-4.3.3-3] an acknowledgement for a packet id with nothing in flight is a late duplicate: ignored',
      levels: [3, 4, 5],
      mosquitto: true,
      async run(peer, name) {
        await peer.connect(name);
        peer.send(hex('40 02 01 23'));
        peer.send(hex('70 02 01 24'));
        await peer.roundTrip();
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});

describe('topic filters that are not well formed', () => {
  const malformed: ReadonlyArray<readonly [filter: string, id: string]> = [
    ['', 'MQTT-4.7.3-1'],
    ['#/a', 'MQTT-4.7.1-1'],
    ['a/#/b', 'MQTT-4.7.1-1'],
    ['a/b#', 'MQTT-4.7.1-1'],
    ['a+', 'MQTT-4.7.1-2'],
    ['+a/b', 'MQTT-4.7.1-2'],
  ];
  // mosquitto takes `$share/g` and `$share//a` as plain filters (docs/conformance-decisions.md): only the last row runs against it.
  const sharedMalformed: ReadonlyArray<readonly [filter: string, id: string, mosquitto: boolean]> = [
    ['$share/g', 'MQTT-4.8.2-2', false],
    ['$share//a', 'MQTT-4.8.2-1', false],
    ['$share/g+/a', 'MQTT-4.8.2-2', true],
  ];
  const closes = (filter: string, id: string, levels: readonly ProtocolLevel[], mosquitto: boolean): WireCase[] =>
    (['SUBSCRIBE', 'UNSUBSCRIBE'] as const).map((kind) => ({
      name: `[${id}] [MQTT-4.8.0-1] [MQTT-4.13.1-1] ${kind} ${JSON.stringify(filter)} is malformed: the connection is closed`,
      levels,
      ...(mosquitto ? { mosquitto: true } : {}),
      async run(peer, name) {
        await peer.connect(name);
        peer.send(kind === 'SUBSCRIBE' ? { cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: filter, qos: 0 }] } : { cmd: 'unsubscribe', messageId: 3, unsubscriptions: [filter] });
        // 5.0 says why first (4.13.1): DISCONNECT 0x81 Malformed Packet.
        expectOnlyDisconnect(await peer.closedAfter(), peer.level, 0x81);
      },
    }));
  for (const test of wireTests(stack, [
    ...malformed.flatMap(([filter, id]) => closes(filter, id, [3, 4, 5], true)),
    ...sharedMalformed.flatMap(([filter, id, mosquitto]) => closes(filter, id, [5], mosquitto)),
    {
      name: '[MQTT-3.9.3-2] [MQTT-4.7.1-1] a well-formed filter the broker does not take as a shared subscription is refused in its SUBACK (0x80)',
      // 3.1.1 only: 3.1 has no SUBACK failure code (an open question of the conformance matrix).
      levels: [4],
      async run(peer, name) {
        await peer.connect(name);
        peer.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: '$share/g', qos: 0 }] });
        await peer.expect('90 03 00 03 80');
        await peer.roundTrip();
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});

describe('what a PUBLISH is answered with', () => {
  for (const test of wireTests(stack, [
    ...(
      [
        [1, 'MQTT-3.4.2-1'],
        [2, 'MQTT-3.5.2-1'],
      ] as const
    ).map(
      ([qos, id]): WireCase => ({
        name: `[${id}] a QoS ${qos} PUBLISH nobody subscribes to is acknowledged 0x10 No matching subscribers`,
        levels: [5],
        // mosquitto answers the QoS 2 one with PUBREC 0x00 (0x10 is a MAY).
        ...(qos === 1 ? { mosquitto: true } : {}),
        async run(peer, name) {
          await peer.connect(name);
          peer.send({ cmd: 'publish', topic: `${name}/nobody`, payload: Buffer.from('x'), qos, messageId: 5, retain: false, dup: false });
          await peer.expect({ cmd: qos === 1 ? 'puback' : 'pubrec', messageId: 5, reasonCode: 0x10 });
          if (qos === 2) {
            // Not an error: the exchange goes on [MQTT-4.3.3].
            peer.send({ cmd: 'pubrel', messageId: 5 });
            await peer.expect({ cmd: 'pubcomp', messageId: 5 });
          }
          // With a subscriber, Success.
          peer.send({ cmd: 'subscribe', messageId: 6, subscriptions: [{ topic: `${name}/someone`, qos: 0 }] });
          await peer.expect({ cmd: 'suback', messageId: 6 });
          peer.send({ cmd: 'publish', topic: `${name}/someone`, payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false });
          const answers = [await peer.next(), await peer.next()].map(({ packet }) => packet);
          expect(answers).toContainEqual(expect.objectContaining({ cmd: 'puback', messageId: 7, reasonCode: 0 }));
          expect(answers).toContainEqual(expect.objectContaining({ cmd: 'publish', topic: `${name}/someone` }));
        },
      }),
    ),
    {
      name: '[MQTT-3.4.2-1] a 3.x PUBACK has no reason code, subscribers or not',
      levels: [3, 4],
      mosquitto: true,
      async run(peer, name) {
        await peer.connect(name);
        peer.send({ cmd: 'publish', topic: `${name}/nobody`, payload: Buffer.from('x'), qos: 1, messageId: 5, retain: false, dup: false });
        await peer.expect('40 02 00 05');
      },
    },
    {
      name: '[MQTT-3.3.2-4] [MQTT-4.13.1-1] a PUBLISH with a Payload Format Indicator other than 0 or 1 is a protocol error: DISCONNECT 0x82',
      levels: [5],
      async run(peer, name) {
        await peer.connect(name);
        // PUBLISH QoS 0 to "t", properties: Payload Format Indicator 2.
        peer.send(hex('30 07 00 01 74 02 01 02 78'));
        await peer.expectOnlyThenClose({ cmd: 'disconnect', reasonCode: 0x82 });
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});

/**
 * Subscribes to `topic` and publishes to it at `qos` (answering its own
 * PUBREC), until the server has acknowledged that PUBLISH and sent it back;
 * returns the packet id of the copy delivered, still unacknowledged.
 */
async function deliveredToSelf(peer: WirePeer, topic: string, qos: 1 | 2): Promise<number> {
  peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] });
  await peer.expect({ cmd: 'suback', messageId: 1 });
  peer.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos, messageId: 2, retain: false, dup: false });
  let delivered: number | undefined;
  let acknowledged = false;
  while (delivered === undefined || !acknowledged) {
    const { packet } = await peer.next('the PUBLISH back and its acknowledgement');
    if (packet.cmd === 'publish') delivered = packet.messageId;
    else if (packet.cmd === 'pubrec') peer.send({ cmd: 'pubrel', messageId: 2 });
    else if (packet.cmd === (qos === 1 ? 'puback' : 'pubcomp')) acknowledged = true;
  }
  return delivered as number;
}

/** Nothing before the close, or at 5.0 a DISCONNECT with `reason` and nothing else. */
function expectOnlyDisconnect(before: Array<{ packet: { cmd: string; reasonCode?: number } }>, level: number, reason: number): void {
  const seen = before.map(({ packet }) => `${packet.cmd}${packet.reasonCode === undefined ? '' : ` 0x${packet.reasonCode.toString(16)}`}`);
  expect(seen).toEqual(level === 5 && seen.length > 0 ? [`disconnect 0x${reason.toString(16)}`] : []);
}
