/**
 * The bridge's guard on what a remote broker sends (sidecar/broker-bridges/
 * packet-size-guard.ts): it follows packets by their fixed headers only,
 * however the stream is cut, lets through every packet up to the limit and
 * refuses the first larger one as soon as its header says so, before its
 * body has come.
 */
import { describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { PacketSizeGuard } from '../../sidecar/broker-bridges/packet-size-guard.ts';

const publish = (payload: number): Uint8Array => encodePacket({ cmd: 'publish', topic: 't', payload: Buffer.alloc(payload, 1), qos: 0, retain: false, dup: false }, 4);
const stream = Buffer.concat([publish(0), encodePacket({ cmd: 'pingresp' }, 4), publish(100), publish(20_000), encodePacket({ cmd: 'puback', messageId: 7 }, 4)]);

describe('the size guard of a bridge', () => {
  it('lets every packet up to the limit through, however the stream is cut', () => {
    const limit = publish(20_000).byteLength;
    for (let cut = 1; cut < stream.byteLength; cut += 97) {
      const guard = new PacketSizeGuard(limit);
      expect(guard.check(stream.subarray(0, cut))).toBeUndefined();
      expect(guard.check(stream.subarray(cut))).toBeUndefined();
    }
    const guard = new PacketSizeGuard(limit);
    for (const byte of stream) expect(guard.check(Uint8Array.of(byte))).toBeUndefined();
  });

  it('refuses the first packet over the limit at its fixed header, wherever the stream is cut', () => {
    const big = publish(20_000);
    const limit = big.byteLength - 1;
    const header = big.subarray(0, 4);
    for (let cut = 1; cut < header.byteLength; cut++) {
      const guard = new PacketSizeGuard(limit);
      expect(guard.check(Buffer.concat([publish(100), header.subarray(0, cut)]))).toBeUndefined();
      expect(guard.check(header.subarray(cut))).toBe(big.byteLength);
    }
  });

  it('refuses a Remaining Length of more than four bytes', () => {
    expect(new PacketSizeGuard(1 << 28).check(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01))).toBe(Number.POSITIVE_INFINITY);
  });

  it('refuses 250 MB announced in five bytes', () => {
    expect(new PacketSizeGuard(1024 * 1024).check(Uint8Array.of(0x30, 0x80, 0xe5, 0x9a, 0x77))).toBe(250_000_000 + 5);
  });
});
