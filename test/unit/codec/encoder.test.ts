/** encodePacket: level adaptation and error conversion (round trips live in codec.test.ts). */
import { describe, expect, it } from 'vitest';
import { decodeAll } from '../../../shared/codec/decoder.ts';
import { encodePacket } from '../../../shared/codec/encoder.ts';
import type { MqttPacket } from '../../../shared/codec/types.ts';
import { ReasonCode } from '../../../shared/reason-codes.ts';
import { expectMqttError, toHex } from './helpers.ts';

function encodeError(packet: MqttPacket, level: 3 | 4 | 5): unknown {
  try {
    encodePacket(packet, level);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('encodePacket', () => {
  it('fills in the protocol name and level of a CONNECT', () => {
    expect(toHex(encodePacket({ cmd: 'connect', clientId: 'c' }, 3))).toContain(Buffer.from('MQIsdp').toString('hex') + '03');
    expect(toHex(encodePacket({ cmd: 'connect', clientId: 'c' }, 5))).toContain(Buffer.from('MQTT').toString('hex') + '05');
    const { packets } = decodeAll(encodePacket({ cmd: 'connect', clientId: 'c' }, 4));
    expect(packets[0]).toMatchObject({ protocolId: 'MQTT', protocolVersion: 4 });
  });

  it('refuses a CONNECT whose level contradicts the target level', () => {
    const error = encodeError({ cmd: 'connect', clientId: 'c', protocolVersion: 5 }, 4);
    expectMqttError(error, ReasonCode.ImplementationSpecificError);
  });

  it('maps a 5.0 CONNACK reason to a 3.1.1 return code', () => {
    expect(toHex(encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode: ReasonCode.NotAuthorized }, 4))).toBe('20020005');
    expect(toHex(encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode: ReasonCode.UnsupportedProtocolVersion }, 3))).toBe('20020001');
    expect(toHex(encodePacket({ cmd: 'connack', sessionPresent: true }, 4))).toBe('20020100');
    // An explicit returnCode wins.
    expect(toHex(encodePacket({ cmd: 'connack', sessionPresent: false, returnCode: 2, reasonCode: 0x87 }, 4))).toBe('20020002');
  });

  it('maps 5.0 SUBACK failures to 0x80 below 5.0 and keeps them in 5.0', () => {
    const suback: MqttPacket = { cmd: 'suback', messageId: 1, granted: [0, 1, 2, 0x87, 0xa2, 0x80] };
    expect(toHex(encodePacket(suback, 4))).toBe('90080001000102808080');
    expect(decodeAll(encodePacket(suback, 5), 5).packets[0]).toMatchObject({ granted: [0, 1, 2, 0x87, 0xa2, 0x80] });
  });

  it('a 5.0 acknowledgement without reason code is Success in short form', () => {
    expect(toHex(encodePacket({ cmd: 'puback', messageId: 7 }, 5))).toBe('40020007');
    expect(toHex(encodePacket({ cmd: 'pubrel', messageId: 7 }, 5))).toBe('62020007');
  });

  it('drops 5.0 properties below 5.0', () => {
    const publish: MqttPacket = {
      cmd: 'publish',
      topic: 't',
      payload: Buffer.from('p'),
      qos: 0,
      dup: false,
      retain: false,
      properties: { userProperties: { a: 'b' } },
    };
    expect(toHex(encodePacket(publish, 4))).toBe('30040001' + '74' + '70');
  });

  it.each<[string, MqttPacket, 3 | 4 | 5]>([
    ['PUBLISH QoS 1 without messageId', { cmd: 'publish', topic: 't', payload: Buffer.from(''), qos: 1, dup: false, retain: false }, 4],
    ['AUTH below 5.0', { cmd: 'auth', reasonCode: 0 }, 4],
    ['SUBSCRIBE without subscriptions', { cmd: 'subscribe', messageId: 1, subscriptions: [] }, 4],
    ['CONNACK without a code at 5.0', { cmd: 'connack', sessionPresent: false }, 5],
    ['unknown command', { cmd: 'nonsense' } as unknown as MqttPacket, 4],
    ['invalid property value', { cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: -1 } }, 5],
  ])('turns generate errors into MqttError 0x83: %s', (_name, packet, level) => {
    const error = encodeError(packet, level);
    expectMqttError(error, ReasonCode.ImplementationSpecificError);
    expect(error.kind).toBe('Protocol');
  });

  it('returns a Uint8Array', () => {
    expect(encodePacket({ cmd: 'pingresp' }, 4)).toBeInstanceOf(Uint8Array);
  });
});
