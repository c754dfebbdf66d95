/**
 * Packet-level conformance of wills when a connection is taken over or its
 * client comes back: a 3.x will belongs to its network connection
 * [MQTT-3.1.2-8]; a 5.0 will is kept back only by a new connection to the
 * same session before the Will Delay Interval has passed [MQTT-3.1.3-9].
 * A watcher subscribed to the will topic sees what is published. Over TCP
 * through the sidecar and over WebSocket (harness: wire.ts; decisions:
 * docs/conformance-decisions.md).
 */
import type mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import type { ProtocolLevel } from '../../shared/codec/types.ts';
import { connected, connectOf, useWireStack, wireTests, type WireCase, type WirePeer, type WireStack } from './wire.ts';

const stack = useWireStack();

/** A will on `topic`, with a Will Delay Interval at 5.0 when `delay` is given. */
function willOn(topic: string, delay?: number): NonNullable<mqttPacket.IConnectPacket['will']> {
  return { topic, payload: Buffer.from('gone'), qos: 0, retain: false, ...(delay === undefined ? {} : { properties: { willDelayInterval: delay } }) };
}

/** A 5.0 client subscribed to `topic` over the same transport. */
async function watch(wire: WireStack, peer: WirePeer, topic: string): Promise<WirePeer> {
  const watcher = await connected(wire, peer.transport, 5, `${topic}-watcher`);
  watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
  await watcher.expect({ cmd: 'suback', messageId: 1 });
  return watcher;
}

/** The next message the watcher gets is `payload`. */
async function expectMessage(watcher: WirePeer, topic: string, payload: string): Promise<void> {
  const received = await watcher.expect({ cmd: 'publish', topic });
  expect(received.packet.cmd === 'publish' ? received.packet.payload.toString() : '').toBe(payload);
}

/**
 * The will was not published: once the edge has ended the old connection
 * (the will routed, if any), `from` publishes a marker, and the marker is
 * the first thing the watcher gets.
 */
async function expectNoWill(wire: WireStack, watcher: WirePeer, from: WirePeer, clientId: string, topic: string): Promise<void> {
  await wire.ended(clientId);
  from.send({ cmd: 'publish', topic, payload: Buffer.from('marker'), qos: 1, messageId: 7, retain: false, dup: false });
  await from.expect({ cmd: 'puback', messageId: 7 });
  await expectMessage(watcher, topic, 'marker');
}

/** A takeover: the peer connects with `first`, then a new connection of the same client id with `second`; the peer is closed. */
async function takeOver(peer: WirePeer, wire: WireStack, clientId: string, first: Partial<mqttPacket.IConnectPacket>, second: Partial<mqttPacket.IConnectPacket>): Promise<WirePeer> {
  await peer.connect(clientId, first);
  const next = await connected(wire, peer.transport, peer.level, clientId, second);
  const before = await peer.closedAfter();
  // 5.0 says why [MQTT-3.1.4-3]: DISCONNECT 0x8E Session taken over.
  expect(before.map(({ packet }) => packet.cmd)).toEqual(peer.level === 5 ? ['disconnect'] : []);
  return next;
}

const sessionExpiry = (level: ProtocolLevel, seconds: number): Partial<mqttPacket.IConnectPacket> => (level === 5 ? { properties: { sessionExpiryInterval: seconds } } : {});

describe('wills on takeover and return', () => {
  for (const test of wireTests(stack, [
    ...(
      [
        [true, 'clean'],
        [false, 'persistent'],
      ] as const
    ).map(
      ([clean, kind]): WireCase => ({
        name: `[MQTT-3.1.2-8] [MQTT-3.1.4-3] the will of a ${kind} session's connection taken over by a CleanSession 0 connection is published`,
        levels: [3, 4],
        // mosquitto discards the will of a persistent session taken over: a listed difference (docs/conformance-decisions.md).
        ...(clean ? { mosquitto: true } : {}),
        async run(peer, name, wire) {
          const watcher = await watch(wire, peer, name);
          const next = await takeOver(peer, wire, name, { clean, will: willOn(name) }, { clean: false });
          await expectMessage(watcher, name, 'gone');
          next.close();
          watcher.close();
        },
      }),
    ),
    ...[undefined, 30].map(
      (delay): WireCase => ({
        name: `[MQTT-3.1.2-8] [MQTT-3.1.3-9] [MQTT-3.1.4-3] the will (delay ${delay ?? 0} s) of a Session Expiry 0 connection taken over by a Clean Start 0 one is published: its session ended`,
        levels: [5],
        async run(peer, name, wire) {
          const watcher = await watch(wire, peer, name);
          const next = await takeOver(peer, wire, name, { will: willOn(name, delay) }, { clean: false, properties: { sessionExpiryInterval: 60 } });
          await expectMessage(watcher, name, 'gone');
          next.close();
          watcher.close();
        },
      }),
    ),
    ...[undefined, 30].map(
      (delay): WireCase => ({
        name: `[MQTT-3.1.3-9] [MQTT-3.1.4-3] the will (delay ${delay ?? 0} s) of a connection whose session a Clean Start 0 connection takes over is not published`,
        levels: [5],
        async run(peer, name, wire) {
          const watcher = await watch(wire, peer, name);
          const persistent = { clean: false, ...sessionExpiry(5, 60) };
          const next = await takeOver(peer, wire, name, { ...persistent, will: willOn(name, delay) }, persistent);
          await expectNoWill(wire, watcher, next, name, name);
          next.close();
          watcher.close();
        },
      }),
    ),
    ...[true, false].map(
      (clean): WireCase => ({
        name: clean
          ? '[MQTT-3.1.2-8] [MQTT-3.1.3-9] [MQTT-3.1.2-4] a return with Clean Start 1 before the Will Delay Interval has passed ends the session: its will is published then'
          : '[MQTT-3.1.3-9] a return with Clean Start 0 before the Will Delay Interval has passed keeps the will from being published',
        levels: [5],
        // Against mosquitto 2.0.11 the Clean Start 1 row got no will to the watcher (tried): it runs the Clean Start 0 row only.
        ...(clean ? {} : { mosquitto: true }),
        async run(peer, name, wire) {
          const watcher = await watch(wire, peer, name);
          await peer.connect(name, { clean: false, will: willOn(name, 30), ...sessionExpiry(5, 60) });
          // Gone without DISCONNECT: the will waits for its delay.
          peer.close();
          await wire.ended(name);
          const back = await wire.open(peer.transport, 5);
          back.send(connectOf(5, name, { clean, ...sessionExpiry(5, 60) }));
          await back.expect({ cmd: 'connack', reasonCode: 0, sessionPresent: !clean });
          if (clean) await expectMessage(watcher, name, 'gone');
          else await expectNoWill(wire, watcher, back, name, name);
          back.close();
          watcher.close();
        },
      }),
    ),
  ]))
    it(`${test.name}, MQTT ${test.version} ${test.target}`, test.run);
});
