/**
 * Knowing that a broker has finished routing, without sleeping.
 *
 * Every open client subscribes to FenceTopic when it connects. To quiesce,
 * every open client publishes its own fence at QoS 1 and waits for the
 * PUBACK, then every open client waits until it has received every fence.
 * Once client R holds the fence of client P, R holds everything the broker
 * routed to R before it processed P's fence:
 * - everything P published before (a broker processes one client's packets
 *   in order);
 * - the retained messages of P's own earlier SUBSCRIBEs, and the queued
 *   messages sent after P's CONNACK, when P = R;
 * - provided the broker writes one subscriber's PUBLISH packets in the order
 *   it routed them. [MQTT-4.6.0-5] promises that only per topic and QoS; both
 *   brokers do it across topics (mosquitto: one thread and one output queue
 *   per client; the edge: one Durable Object, per-subscriber order kept), as
 *   long as fewer messages are in flight than either broker's window
 *   (mosquitto's max_inflight_messages is 20): keep scenarios small.
 *
 * A negative check ("R did not get X") is sound only after a fence. What a
 * fence cannot order is a connection's end (a will): the runner waits for
 * the broker to report that end first (targets.ts).
 *
 * Fences travel on a '$' topic so that no scenario filter sees them
 * ('#' and '+' do not match it [MQTT-4.7.2-1]), and one pattern rule lets
 * every client use it on both brokers.
 */
import type { Connection } from './connection.ts';

export const FenceTopic = '$fence/all';

/**
 * A pattern applies to every client, after its own block in mosquitto, and
 * a scenario's `topic deny #` cannot touch it: mosquitto skips non-'$'
 * rules for '$' topics, the edge's '#' does not overlap '$' topics.
 */
const FenceRule = `pattern readwrite ${FenceTopic}`;

export function withFenceRule(acl: string): string {
  return `${acl.trimEnd()}\n# The differential runner's fences (test/differential/fence.ts).\n${FenceRule}\n`;
}

/** Fences all open connections; `round` makes each round's fence ids unique. */
export async function quiesce(open: readonly Connection[], round: number, timeoutMs = 10_000): Promise<void> {
  const fences = open.map((connection) => `${round}:${connection.name}`);
  await Promise.all(open.map((connection, index) => connection.publishFence(fences[index]!)));
  await Promise.all(open.flatMap((connection) => fences.map((fence) => connection.waitForFence(fence, timeoutMs))));
}
