/**
 * A packet within the Maximum Packet Size its receiver announced (5.0).
 * The sender must not send a larger packet [MQTT-3.1.2-24]; what it may
 * leave out to fit is the Reason String and the User Properties of every
 * packet but PUBLISH (MQTT-3.2.2-19/20, 3.4.2-2/3, 3.5.2-2/3, 3.6.2-2/3,
 * 3.7.2-2/3, 3.9.2-1/2, 3.11.2-1/2, 3.14.2-3/4, 3.15.2-2/3), and in a
 * CONNACK the properties whose absence means the same as their value (a
 * feature available, no Topic Alias), then the Topic Alias Maximum (the
 * client sends no aliases: a feature given up, nothing broken). A packet
 * that does not fit even so is not sent at all [MQTT-3.1.2-25]. PUBLISH is
 * not trimmed here: one that does not fit is dropped for that client
 * (edge/core/outbound.ts).
 */
import { encodePacket } from './encoder.ts';
import type { ConnackPacket, MqttPacket, ProtocolLevel } from './types.ts';

/**
 * The packet's bytes, trimmed as above until they fit `maximum` (0: no
 * limit), or undefined when they cannot.
 *
 * @example
 * encodeWithin({ cmd: 'suback', messageId: 1, granted: [0x87], properties: { reasonString: 'not authorized' } }, 5, 8); // 90 04 00 01 00 87
 */
export function encodeWithin(packet: MqttPacket, level: ProtocolLevel, maximum: number): Uint8Array | undefined {
  const bytes = encodePacket(packet, level);
  if (maximum === 0 || bytes.byteLength <= maximum) return bytes;
  if (packet.cmd === 'publish') return undefined;
  for (const trimmed of trimmings(packet)) {
    const smaller = encodePacket(trimmed, level);
    if (smaller.byteLength <= maximum) return smaller;
  }
  return undefined;
}

type Properties = Record<string, unknown>;

/** Ever smaller forms of `packet`, each leaving out one more kind of property. */
function* trimmings(packet: MqttPacket): Generator<MqttPacket> {
  const original = (packet as { properties?: Properties }).properties;
  if (original === undefined) return;
  const properties: Properties = { ...original };
  const form = (): MqttPacket => ({ ...packet, properties: { ...properties } }) as MqttPacket;
  for (const name of ['reasonString', 'userProperties']) {
    if (!(name in properties)) continue;
    delete properties[name];
    yield form();
  }
  if (packet.cmd !== 'connack') return;
  let changed = false;
  for (const [name, meansAbsent] of ConnackDefaults) {
    if (properties[name] !== meansAbsent) continue;
    delete properties[name];
    changed = true;
  }
  if (changed) yield form();
  if (properties['topicAliasMaximum'] !== undefined) {
    delete properties['topicAliasMaximum'];
    yield form();
  }
}

/** CONNACK properties and the value their absence stands for (spec 3.2.2.3). */
const ConnackDefaults: ReadonlyArray<readonly [keyof NonNullable<ConnackPacket['properties']>, unknown]> = [
  ['retainAvailable', true],
  ['wildcardSubscriptionAvailable', true],
  ['subscriptionIdentifiersAvailable', true],
  ['sharedSubscriptionAvailable', true],
  ['topicAliasMaximum', 0],
  ['receiveMaximum', 0xffff],
  ['maximumQoS', 2],
];
