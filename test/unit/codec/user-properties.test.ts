/** User Properties keep their wire order through decode and encode [MQTT-3.3.2-18]. */
import { describe, expect, it } from 'vitest';
import { PacketDecoder } from '../../../shared/codec/decoder.ts';
import { encodePacket } from '../../../shared/codec/encoder.ts';
import { userPropertyPairs } from '../../../shared/codec/user-properties.ts';
import type { PublishPacket } from '../../../shared/codec/types.ts';

const text = (value: string): number[] => [value.length >> 8, value.length & 0xff, ...Buffer.from(value)];
const pair = (name: string, value: string): number[] => [0x26, ...text(name), ...text(value)];

/** A 5.0 PUBLISH QoS 1 to "t", packet id 9, with the given properties and payload "p". */
function publishBytes(properties: number[]): Uint8Array {
  const variable = [...text('t'), 0x00, 0x09, properties.length, ...properties, 0x70];
  return Uint8Array.from([0x32, variable.length, ...variable]);
}

function decodePublish(bytes: Uint8Array): PublishPacket {
  const decoder = new PacketDecoder({ maxPacketSize: 1 << 20, protocolLevel: 5 });
  const { packets, error } = decoder.push(bytes);
  expect(error).toBeUndefined();
  return packets[0] as PublishPacket;
}

describe('User Properties order', () => {
  it('re-encodes interleaved names in their original order', () => {
    const bytes = publishBytes([...pair('a', '1'), ...pair('b', '2'), ...pair('a', '3'), 0x03, ...text('x/y')]);
    const packet = decodePublish(bytes);
    expect(packet.properties?.userProperties).toEqual({ a: ['1', '3'], b: '2' });
    expect(userPropertyPairs(packet.properties?.userProperties ?? {})).toEqual([['a', '1'], ['b', '2'], ['a', '3']]);
    const again = decodePublish(encodePacket(packet, 5));
    expect(userPropertyPairs(again.properties?.userProperties ?? {})).toEqual([['a', '1'], ['b', '2'], ['a', '3']]);
    expect(again.properties?.contentType).toBe('x/y');
    expect(Buffer.from(again.payload as Buffer).toString()).toBe('p');
    expect(again.messageId).toBe(9);
  });

  it('keeps a repeated name with an empty value, and "__proto__" as a plain name', () => {
    const packet = decodePublish(publishBytes([...pair('k', ''), ...pair('k', 'x'), ...pair('__proto__', 'v')]));
    expect(userPropertyPairs(packet.properties?.userProperties ?? {})).toEqual([['k', ''], ['k', 'x'], ['__proto__', 'v']]);
    expect(Object.getPrototypeOf(packet.properties?.userProperties)).toBeNull();
  });
});
