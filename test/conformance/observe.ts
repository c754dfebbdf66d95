/**
 * Seeing that something did not happen, without waiting for it not to: a
 * watcher subscribed to a topic publishes a marker there, and the marker
 * must be the first message it gets. Whatever the server had routed to the
 * topic before (a message it should not have processed or forwarded) would
 * have come first, since a session gets one publisher's messages in order.
 */
import { expect } from 'vitest';
import { connected, type WirePeer, type WireStack } from './wire.ts';

/** A 5.0 client subscribed to `topic` at QoS 1 over the peer's transport. */
export async function watch(wire: WireStack, peer: WirePeer, topic: string): Promise<WirePeer> {
  const watcher = await connected(wire, peer.transport, 5, `${topic}-watcher`);
  watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
  await watcher.expect({ cmd: 'suback', messageId: 1 });
  return watcher;
}

/** The watcher publishes a marker to `topic`; it must be the first message the watcher gets. */
export async function expectMarkerFirst(watcher: WirePeer, topic: string): Promise<void> {
  watcher.send({ cmd: 'publish', topic, payload: Buffer.from('marker'), qos: 1, messageId: 0x7fff, retain: false, dup: false });
  // Its PUBACK and its own copy may come in either order.
  let first = await watcher.next('PUBLISH');
  if (first.packet.cmd === 'puback') first = await watcher.next('PUBLISH');
  expect(first.packet.cmd === 'publish' ? first.packet.payload.toString() : first.packet.cmd).toBe('marker');
}

/**
 * Waits until at least `seconds` have passed, seen on the wire rather than
 * slept: a client with a Will Delay Interval of `seconds` goes without
 * DISCONNECT, and its will reaches a watcher once the delay has passed. A
 * deadline the broker keeps in whole seconds (a Message Expiry Interval set
 * before this is called) has passed too.
 */
export async function secondsPassed(wire: WireStack, peer: WirePeer, name: string, seconds: number): Promise<void> {
  const topic = `${name}/clock`;
  const watcher = await watch(wire, peer, topic);
  const clock = await connected(wire, peer.transport, 5, `${name}-clock`, {
    will: { topic, payload: Buffer.from('tick'), qos: 0, retain: false, properties: { willDelayInterval: seconds } },
    properties: { sessionExpiryInterval: seconds + 60 },
  });
  clock.close();
  await watcher.expect({ cmd: 'publish', topic });
  watcher.close();
}
