/**
 * The hand-written fast path (shared/codec/fast-path.ts) against
 * mqtt-packet, the reference: on random packets, the same bytes out and
 * the same objects back; and whatever the fast path does not take, it
 * leaves to mqtt-packet.
 */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decodeFast, encodeFast } from '../../../shared/codec/fast-path.ts';
import type { MqttPacket, ProtocolLevel } from '../../../shared/codec/types.ts';

function referenceParse(bytes: Uint8Array, level: ProtocolLevel): Record<string, unknown> {
  const parser = mqttPacket.parser({ protocolVersion: level });
  let parsed: Record<string, unknown> | undefined;
  parser.on('packet', (packet) => {
    parsed = { ...packet } as Record<string, unknown>;
  });
  parser.parse(Buffer.from(bytes));
  if (parsed === undefined) throw new Error('mqtt-packet parsed nothing');
  return parsed;
}

/** Compares packet objects field by field, payload bytes as bytes. */
function plain(packet: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(packet).map(([key, value]) => [key, value instanceof Uint8Array ? [...value] : value]));
}

const level = fc.constantFrom<ProtocolLevel>(3, 4, 5);
const publish = fc.record({
  topic: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((t) => !t.includes('\u0000') && !/[#+]/.test(t)),
  payload: fc.uint8Array({ maxLength: 300 }),
  qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
  retain: fc.boolean(),
  dup: fc.boolean(),
  messageId: fc.integer({ min: 1, max: 0xffff }),
});

describe('the codec fast path', () => {
  it('writes a PUBLISH exactly as mqtt-packet does, and reads it back to the same object', () => {
    fc.assert(
      fc.property(publish, level, (p, v) => {
        const packet = { cmd: 'publish', topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, ...(p.qos > 0 ? { messageId: p.messageId } : {}) } as MqttPacket;
        const reference = mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: v });
        const fast = encodeFast(packet, v);
        expect(fast).toBeDefined();
        expect(Buffer.from(fast as Uint8Array)).toEqual(reference);
        // Decoded from a view in a larger buffer, as frames are.
        const framed = new Uint8Array(reference.length + 7);
        framed.set(reference, 3);
        const decoded = decodeFast(framed.subarray(3, 3 + reference.length), v);
        expect(decoded).toBeDefined();
        expect(plain(decoded as unknown as Record<string, unknown>)).toEqual(plain(referenceParse(reference, v)));
        expect(Buffer.isBuffer((decoded as { payload: unknown }).payload)).toBe(true);
      }),
      { numRuns: 3000, seed: 20261201 },
    );
  });

  it('writes and reads the four acknowledgements and the pings as mqtt-packet does', () => {
    fc.assert(
      fc.property(fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp') , fc.integer({ min: 1, max: 0xffff }), level, (cmd, messageId, v) => {
        const packet = { cmd, messageId, ...(v === 5 ? { reasonCode: 0 } : {}) } as MqttPacket;
        const reference = mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: v });
        expect(Buffer.from(encodeFast(packet, v) as Uint8Array)).toEqual(reference);
        expect(decodeFast(reference, v)).toEqual(referenceParse(reference, v));
      }),
      { numRuns: 500, seed: 20261201 },
    );
    for (const v of [3, 4, 5] as const) {
      for (const cmd of ['pingreq', 'pingresp'] as const) {
        const reference = mqttPacket.generate({ cmd } as mqttPacket.Packet, { protocolVersion: v });
        expect(Buffer.from(encodeFast({ cmd } as MqttPacket, v) as Uint8Array)).toEqual(reference);
        expect(decodeFast(reference, v)).toEqual(referenceParse(reference, v));
      }
    }
  });

  it('keeps a leading U+FEFF of a topic, as mqtt-packet does', () => {
    const reference = mqttPacket.generate({ cmd: 'publish', topic: '\uFEFFbom/😀', payload: Buffer.from('x'), qos: 0, retain: false, dup: false } as mqttPacket.Packet, { protocolVersion: 4 });
    expect((decodeFast(reference, 4) as { topic: string }).topic).toBe('\uFEFFbom/😀');
  });

  it('leaves to mqtt-packet what it does not take: 5.0 properties, reason codes, odd fields', () => {
    const withProperties = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { contentType: 'a' } } as mqttPacket.Packet, { protocolVersion: 5 });
    expect(decodeFast(withProperties, 5)).toBeUndefined();
    const reason = mqttPacket.generate({ cmd: 'puback', messageId: 1, reasonCode: 0x10 } as mqttPacket.Packet, { protocolVersion: 5 });
    expect(decodeFast(reason, 5)).toBeUndefined();
    expect(encodeFast({ cmd: 'puback', messageId: 1, reasonCode: 0x10 } as MqttPacket, 5)).toBeUndefined();
    expect(encodeFast({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } } as MqttPacket, 5)).toBeUndefined();
    expect(encodeFast({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false } as MqttPacket, 5)).toBeUndefined();
    expect(encodeFast({ cmd: 'publish', topic: 't', payload: 'a string', qos: 0, retain: false, dup: false } as MqttPacket, 4)).toBeUndefined();
    expect(encodeFast({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, dup: false } as MqttPacket, 4)).toBeUndefined();
    expect(encodeFast({ cmd: 'subscribe', messageId: 1, subscriptions: [] } as MqttPacket, 4)).toBeUndefined();
  });
});
