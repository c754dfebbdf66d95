/**
 * Seeded random input: the decoder never throws, never hangs, and always
 * answers a complete packet with a packet or an MqttError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketDecoder, type DecodeResult } from '../../../shared/codec/decoder.ts';
import { encodePacket } from '../../../shared/codec/encoder.ts';
import type { ProtocolLevel } from '../../../shared/codec/types.ts';
import { MqttError } from '../../../shared/errors.ts';
import { fixturesAt } from './fixtures.ts';
import { concat, vbi } from './helpers.ts';

const Seed = 20240917;
const level = fc.constantFrom<ProtocolLevel | undefined>(undefined, 3, 4, 5);

function newDecoder(protocolLevel: ProtocolLevel | undefined, maxPacketSize = 1 << 16): PacketDecoder {
  return new PacketDecoder({ maxPacketSize, ...(protocolLevel === undefined ? {} : { protocolLevel }) });
}

function expectWellFormedResult(result: DecodeResult): void {
  for (const packet of result.packets) expect(typeof packet.cmd).toBe('string');
  if (result.error !== undefined) expect(result.error).toBeInstanceOf(MqttError);
}

/** Pushes `bytes` in the given chunk sizes; all results must be well-formed. */
function pushAll(decoder: PacketDecoder, bytes: Uint8Array, sizes: readonly number[]): boolean {
  let offset = 0;
  let failed = false;
  for (const size of [...sizes, bytes.length]) {
    if (offset >= bytes.length) break;
    const result = decoder.push(bytes.subarray(offset, offset + Math.max(1, size)));
    expectWellFormedResult(result);
    if (result.error !== undefined) failed = true;
    offset += Math.max(1, size);
  }
  return failed;
}

describe('random bytes', () => {
  it('never throw, in any chunking, at any level', () => {
    fc.assert(
      fc.property(level, fc.uint8Array({ maxLength: 512 }), fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }), (protocolLevel, bytes, sizes) => {
        pushAll(newDecoder(protocolLevel), bytes, sizes);
      }),
      { seed: Seed, numRuns: 2000 },
    );
  });

  it('a complete frame with a random first byte and body yields a packet or an error', () => {
    fc.assert(
      fc.property(level, fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }), (protocolLevel, first, body) => {
        const decoder = newDecoder(protocolLevel);
        const result = decoder.push(concat([first], vbi(body.length), body));
        expectWellFormedResult(result);
        // "Never a hang": nothing is left waiting for more bytes.
        expect(result.packets.length + (result.error === undefined ? 0 : 1)).toBe(1);
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { seed: Seed + 1, numRuns: 3000 },
    );
  });

  it('random bodies with a plausible structure (type, flags and a valid start) decode or fail cleanly', () => {
    // Prefixes that get past the first field checks so the deeper parsers are exercised.
    const prefixes = [
      concat('0004 4d515454 05'), // CONNECT 5.0 name/level
      concat('0004 4d515454 04'),
      concat('0006 4d5149736470 03'),
      concat('0001 61'), // PUBLISH topic 'a'
      concat('0001'), // packet identifier
    ];
    fc.assert(
      fc.property(
        level,
        fc.constantFrom(0x10, 0x20, 0x30, 0x32, 0x3d, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xa2, 0xb0, 0xe0, 0xf0),
        fc.constantFrom(...prefixes),
        fc.uint8Array({ maxLength: 120 }),
        (protocolLevel, first, prefix, rest) => {
          const body = concat(prefix, rest);
          const decoder = newDecoder(first === 0x10 ? undefined : (protocolLevel ?? 5));
          const result = decoder.push(concat([first], vbi(body.length), body));
          expectWellFormedResult(result);
          expect(result.packets.length + (result.error === undefined ? 0 : 1)).toBe(1);
        },
      ),
      { seed: Seed + 2, numRuns: 3000 },
    );
  });
});

describe('mutated valid streams', () => {
  for (const protocolLevel of [3, 4, 5] as const) {
    const stream = concat(...fixturesAt(protocolLevel).map((fixture) => encodePacket(fixture.packet, protocolLevel)));

    it(`level ${protocolLevel}: flipped and dropped bytes never throw`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.integer({ min: 0, max: stream.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 0, max: stream.length }),
          fc.array(fc.integer({ min: 1, max: 97 }), { maxLength: 6 }),
          (flips, cut, sizes) => {
            const bytes = stream.slice(0, cut);
            for (const [at, value] of flips) if (at < bytes.length) bytes[at] = value;
            pushAll(newDecoder(protocolLevel, 1 << 20), bytes, sizes);
          },
        ),
        { seed: Seed + protocolLevel, numRuns: 1000 },
      );
    });
  }
});
