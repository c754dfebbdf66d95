/**
 * Packet-level conformance of 5.0 enhanced authentication, against the
 * Worker with an authenticate hook (test/fixtures/hooks-worker.ts: method
 * CHALLENGE-TEST, whose answer to a nonce is `answer-<client id>`). Over
 * TCP through the sidecar and over WebSocket (harness: wire.ts).
 */
import { describe, expect, it } from 'vitest';
import { connectOf, useWireStack, wireTests, type WirePeer } from './wire.ts';

const stack = useWireStack({}, { scriptPath: process.env['HOOKS_BUNDLE'] as string });

const Method = 'CHALLENGE-TEST';
const auth = (reasonCode: number, data: string) => ({ cmd: 'auth' as const, reasonCode, properties: { authenticationMethod: Method, authenticationData: Buffer.from(data) } });

/** Connects `peer` through the hook's challenge and the right answer. */
async function authenticated(peer: WirePeer, clientId: string): Promise<void> {
  peer.send(connectOf(5, clientId, { properties: { authenticationMethod: Method, authenticationData: Buffer.from('hello') } }));
  await peer.expect({ cmd: 'auth', reasonCode: 0x18 });
  peer.send(auth(0x18, `answer-${clientId}`));
  await peer.expect({ cmd: 'connack', reasonCode: 0, properties: { authenticationMethod: Method } });
}

describe('enhanced authentication', () => {
  for (const test of wireTests(stack, [
    {
      name: '[MQTT-4.12.0-6] a CONNECT without an Authentication Method gets no AUTH and a CONNACK without one, though the server has an authenticate hook',
      levels: [5],
      async run(peer, name) {
        peer.send(connectOf(5, name));
        const { packet: connack } = await peer.expect({ cmd: 'connack', reasonCode: 0 });
        expect(connack.cmd === 'connack' ? connack.properties?.authenticationMethod : 'no CONNACK').toBeUndefined();
        await peer.roundTrip();
      },
    },
    {
      name: '[MQTT-4.12.1-2] a failed re-authentication gets DISCONNECT 0x87 Not authorized, then the connection is closed',
      levels: [5],
      async run(peer, name) {
        await authenticated(peer, name);
        peer.send(auth(0x19, 'again'));
        await peer.expect({ cmd: 'auth', reasonCode: 0x18 });
        peer.send(auth(0x18, 'a wrong answer'));
        // The hook refuses with bad credentials; 0x86 is a CONNACK code only, 0x87 the DISCONNECT one for it.
        const before = await peer.closedAfter();
        expect(before.map(({ packet }) => packet)).toMatchObject([{ cmd: 'disconnect', reasonCode: 0x87 }]);
      },
    },
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
