import { describe, expect, it } from 'vitest';
import { decodeAll } from '../../../shared/codec/decoder.ts';
import { encodePacket } from '../../../shared/codec/encoder.ts';
import { withPacketId } from '../../../shared/codec/packet-id.ts';

describe('withPacketId (one encoding shared by many subscribers)', () => {
  for (const level of [4, 5] as const) {
    it(`patches a copy and leaves the shared encoding alone (level ${level})`, () => {
      const shared = encodePacket({ cmd: 'publish', topic: 'T/t', payload: Buffer.from('hello'), qos: 1, retain: false, dup: false, messageId: 7 }, level);
      const before = Uint8Array.from(shared);
      const first = withPacketId(shared, 1);
      const second = withPacketId(shared, 0x1234);
      // The encoder returns Buffers, whose slice() is a view: each copy must own its bytes.
      expect(Uint8Array.from(shared)).toEqual(before);
      expect(decodeAll(first, level).packets[0]).toMatchObject({ cmd: 'publish', topic: 'T/t', messageId: 1 });
      expect(decodeAll(second, level).packets[0]).toMatchObject({ cmd: 'publish', topic: 'T/t', messageId: 0x1234 });
    });
  }
});
