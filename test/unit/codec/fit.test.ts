/** encodeWithin: a packet trimmed to the receiver's Maximum Packet Size, or not sent [MQTT-3.1.2-24/25]. */
import { describe, expect, it } from 'vitest';
import { encodePacket } from '../../../shared/codec/encoder.ts';
import { encodeWithin } from '../../../shared/codec/fit.ts';
import type { MqttPacket } from '../../../shared/codec/types.ts';
import { toHex } from './helpers.ts';

const connack: MqttPacket = {
  cmd: 'connack',
  sessionPresent: false,
  reasonCode: 0,
  properties: {
    receiveMaximum: 1024,
    maximumPacketSize: 1024,
    topicAliasMaximum: 32,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
    reasonString: 'welcome',
    userProperties: { a: 'b' },
  },
};

describe('encodeWithin', () => {
  it.each<[string, MqttPacket, number, string | undefined]>([
    ['no limit: as it is', { cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { reasonString: 'nobody' } }, 0, '40 0d 00 01 10 09 1f 00 06 6e 6f 62 6f 64 79'],
    ['a PUBACK without its Reason String', { cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { reasonString: 'nobody' } }, 8, '40 04 00 01 10 00'],
    ['a DISCONNECT without Reason String and User Properties', { cmd: 'disconnect', reasonCode: 0x82, properties: { reasonString: 'why', userProperties: { k: 'v' } } }, 4, 'e0 02 82 00'],
    ['a CONNACK without the properties whose absence says the same', connack, 16, '20 0e 00 00 0b 21 04 00 27 00 00 04 00 22 00 20'],
    ['a CONNACK without its Topic Alias Maximum too', connack, 13, '20 0b 00 00 08 21 04 00 27 00 00 04 00'],
    ['a CONNACK that cannot fit', connack, 12, undefined],
    ['a SUBACK has nothing to leave out', { cmd: 'suback', messageId: 1, granted: [0, 1, 2] }, 7, undefined],
    ['a PUBLISH is never trimmed', { cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { userProperties: { a: 'b' } } }, 8, undefined],
  ])('%s', (_name, packet, maximum, expected) => {
    const bytes = encodeWithin(packet, 5, maximum);
    expect(bytes === undefined ? undefined : toHex(bytes)).toBe(expected?.replace(/ /g, ''));
    if (bytes !== undefined && maximum > 0) expect(bytes.byteLength).toBeLessThanOrEqual(maximum);
  });

  it('leaves a packet that fits as it is', () => {
    expect(encodeWithin(connack, 5, 1000)).toEqual(encodePacket(connack, 5));
  });
});
