/**
 * Valid packets: encode, decode, round trip, and streaming with every
 * possible chunking.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketDecoder, decodeAll } from '../../../shared/codec/decoder.ts';
import { encodePacket } from '../../../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../../shared/codec/types.ts';
import { fixtures, fixturesAt, levels } from './fixtures.ts';
import { concat, toHex } from './helpers.ts';

const MaxSize = 1 << 20;

/**
 * Packets as one comparable string (Buffers as hex). Much faster than deep
 * equality on Buffers, which matters in the every-split-point loops.
 */
function canonical(packets: readonly MqttPacket[]): string {
  return JSON.stringify(packets, function (this: unknown, key: string, value: unknown) {
    const raw = (this as Record<string, unknown>)[key];
    return raw instanceof Uint8Array ? `hex:${toHex(raw)}` : value;
  });
}

/** Feeds `bytes` cut at `cuts` to a fresh decoder; expects no error and nothing left over. */
function decodeInChunks(bytes: Uint8Array, cuts: readonly number[], level?: ProtocolLevel): MqttPacket[] {
  const decoder = new PacketDecoder({ maxPacketSize: MaxSize, ...(level === undefined ? {} : { protocolLevel: level }) });
  const packets: MqttPacket[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    const result = decoder.push(bytes.subarray(start, cut));
    expect(result.error).toBeUndefined();
    packets.push(...result.packets);
    start = cut;
  }
  expect(decoder.bufferedBytes).toBe(0);
  return packets;
}

describe.each(levels)('level %i', (level) => {
  const cases = fixturesAt(level);

  describe.each(cases.map((fixture) => [fixture.name, fixture] as const))('%s', (_name, fixture) => {
    const encoded = encodePacket(fixture.packet, level);

    it('encodes to the expected bytes', () => {
      if (fixture.bytes !== undefined) expect(toHex(encoded)).toBe(fixture.bytes.replace(/\s+/g, ''));
      expect(encoded[0]! >> 4).toBeGreaterThan(0);
    });

    it('decodes back to the same packet and the same bytes', () => {
      // CONNECT fixtures go through a decoder that learns the level from them.
      const result = decodeAll(encoded, fixture.packet.cmd === 'connect' ? undefined : level);
      expect(result.error).toBeUndefined();
      expect(result.packets).toHaveLength(1);
      const decoded = result.packets[0]!;
      expect(decoded).toMatchObject(fixture.packet as object);
      expect(toHex(encodePacket(decoded, level))).toBe(toHex(encoded));
    });

    it('decodes the same split at every byte and one byte at a time', () => {
      const whole = decodeInChunks(encoded, [], level);
      for (let cut = 0; cut <= encoded.length; cut++) {
        expect(canonical(decodeInChunks(encoded, [cut], level))).toBe(canonical(whole));
      }
      const everyByte = Array.from({ length: encoded.length }, (_, i) => i);
      expect(canonical(decodeInChunks(encoded, everyByte, level))).toBe(canonical(whole));
    });
  });

  describe('a stream of every fixture', () => {
    const stream = concat(...cases.map((fixture) => encodePacket(fixture.packet, level)));
    const reference = decodeInChunks(stream, [], level);

    it('decodes all packets from one chunk', () => {
      expect(reference.map((packet) => packet.cmd)).toEqual(cases.map((fixture) => fixture.packet.cmd));
      reference.forEach((packet, i) => expect(packet).toMatchObject(cases[i]!.packet as object));
    });

    it('decodes the same with one split at every byte', () => {
      for (let cut = 0; cut <= stream.length; cut++) {
        expect(canonical(decodeInChunks(stream, [cut], level))).toBe(canonical(reference));
      }
    });

    it('decodes the same one byte at a time', () => {
      expect(canonical(decodeInChunks(stream, Array.from({ length: stream.length }, (_, i) => i), level))).toBe(canonical(reference));
    });

    it('decodes the same with random chunkings (seeded)', () => {
      const cuts = fc.uniqueArray(fc.integer({ min: 0, max: stream.length }), { maxLength: 40 }).map((list) => list.sort((a, b) => a - b));
      fc.assert(
        fc.property(cuts, (sorted) => {
          expect(canonical(decodeInChunks(stream, sorted, level))).toBe(canonical(reference));
        }),
        { seed: 0x6d717474 + level, numRuns: 200 },
      );
    });

    it('learns the level from the CONNECT at the start of the stream', () => {
      const decoder = new PacketDecoder({ maxPacketSize: MaxSize });
      expect(decoder.protocolLevel).toBeUndefined();
      const result = decoder.push(stream);
      expect(result.error).toBeUndefined();
      expect(decoder.protocolLevel).toBe(level);
      expect(result.packets).toEqual(reference);
    });
  });
});

describe('decoded packets', () => {
  it('PUBLISH payloads are Buffers with the exact bytes', () => {
    const publish = fixtures.find((f) => f.level === 4 && f.name === 'PUBLISH QoS 2 duplicate')!;
    const { packets } = decodeAll(encodePacket(publish.packet, 4), 4);
    const packet = packets[0]!;
    expect(packet.cmd).toBe('publish');
    if (packet.cmd !== 'publish') return;
    expect(Buffer.isBuffer(packet.payload)).toBe(true);
    expect(packet.payload).toEqual(Buffer.alloc(300, 7));
    expect(packet.topic).toBe('ünï/cødé');
  });

  it('a second CONNECT with another level is decoded but does not change the level', () => {
    const v5 = fixtures.find((f) => f.level === 5 && f.name === 'CONNECT minimal')!;
    const v4 = fixtures.find((f) => f.level === 4 && f.name === 'CONNECT minimal')!;
    const publish5 = fixtures.find((f) => f.level === 5 && f.name === 'PUBLISH QoS 1 with properties')!;
    const decoder = new PacketDecoder({ maxPacketSize: MaxSize });
    const bytes = concat(encodePacket(v5.packet, 5), encodePacket(v4.packet, 4), encodePacket(publish5.packet, 5));
    const { packets, error } = decoder.push(bytes);
    expect(error).toBeUndefined();
    expect(packets.map((p) => p.cmd)).toEqual(['connect', 'connect', 'publish']);
    expect(decoder.protocolLevel).toBe(5);
    // The PUBLISH after the 3.1.1 CONNECT is still read with 5.0 properties.
    expect(packets[2]).toMatchObject(publish5.packet as object);
  });

  it('AUTH in the same chunk as the CONNECT that makes the connection 5.0', () => {
    const connect = fixtures.find((f) => f.level === 5 && f.name === 'CONNECT minimal')!;
    const auth = fixtures.find((f) => f.level === 5 && f.name === 'AUTH continue')!;
    const { packets, error } = decodeAll(concat(encodePacket(connect.packet, 5), encodePacket(auth.packet, 5)));
    expect(error).toBeUndefined();
    expect(packets.map((p) => p.cmd)).toEqual(['connect', 'auth']);
  });
});

describe('hibernation: pendingBytes / leftover', () => {
  const connect = encodePacket(fixtures.find((f) => f.level === 5 && f.name === 'CONNECT minimal')!.packet, 5);
  const publish = encodePacket(fixtures.find((f) => f.level === 5 && f.name === 'PUBLISH QoS 1 with properties')!.packet, 5);
  const reference = decodeAll(concat(connect, publish)).packets;

  it('a rebuilt decoder finishes the packet the old one started, wherever it was cut', () => {
    for (let cut = 0; cut < publish.length; cut++) {
      const first = new PacketDecoder({ maxPacketSize: MaxSize });
      const before = first.push(concat(connect, publish.subarray(0, cut)));
      expect(before.packets.map((p) => p.cmd)).toEqual(['connect']);
      const saved = first.takeLeftover();
      expect(toHex(saved)).toBe(toHex(publish.subarray(0, cut)));
      // Non-destructive: the old decoder still holds the bytes.
      expect(first.bufferedBytes).toBe(cut);
      expect(toHex(first.pendingBytes())).toBe(toHex(saved));

      const level = first.protocolLevel;
      expect(level).toBe(5);
      const rebuilt = new PacketDecoder({ maxPacketSize: MaxSize, protocolLevel: 5, leftover: saved });
      expect(rebuilt.bufferedBytes).toBe(cut);
      const after = rebuilt.push(publish.subarray(cut));
      expect(after.error).toBeUndefined();
      expect(after.packets).toEqual([reference[1]]);
      expect(rebuilt.bufferedBytes).toBe(0);
    }
  });

  it('the old decoder can go on after pendingBytes()', () => {
    const decoder = new PacketDecoder({ maxPacketSize: MaxSize });
    decoder.push(concat(connect, publish.subarray(0, 10)));
    decoder.pendingBytes();
    expect(decoder.push(publish.subarray(10)).packets).toEqual([reference[1]]);
  });

  it('a leftover of whole packets is decoded by the first push', () => {
    const decoder = new PacketDecoder({ maxPacketSize: MaxSize, protocolLevel: 5, leftover: concat(publish, publish.subarray(0, 3)) });
    const result = decoder.push(publish.subarray(3));
    expect(result.packets).toEqual([reference[1], reference[1]]);
  });
});
