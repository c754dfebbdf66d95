/** The small helpers of the edge connection: address format and message building. */
import { describe, expect, it } from 'vitest';
import { formatAddress, toEdgeMessage } from '../../sidecar/edge-socket.ts';

describe('formatAddress', () => {
  it.each([
    ['10.0.0.7', 51234, '10.0.0.7:51234'],
    ['::ffff:10.0.0.7', 51234, '10.0.0.7:51234'],
    ['2001:db8::1', 8883, '[2001:db8::1]:8883'],
    [undefined, undefined, 'unknown'],
  ])('%s %s → %s', (ip, port, expected) => {
    expect(formatAddress(ip, port)).toBe(expected);
  });
});

describe('toEdgeMessage', () => {
  const chunk = Buffer.from([0xc0, 0x00, 0x30, 0x03, 0x00, 0x01, 0x61, 0xe0, 0x00]);

  it('sends back-to-back packets of one chunk as a single view, without copying', () => {
    const message = toEdgeMessage([chunk.subarray(2, 7), chunk.subarray(7, 9)]);
    expect(message).toEqual(chunk.subarray(2, 9));
    expect(message.buffer).toBe(chunk.buffer);
  });

  it('joins packets with a gap between them (a PINGREQ taken out) into a copy', () => {
    const message = toEdgeMessage([chunk.subarray(2, 7), Uint8Array.of(0xe0, 0x00)]);
    expect([...message]).toEqual([0x30, 0x03, 0x00, 0x01, 0x61, 0xe0, 0x00]);
    expect(toEdgeMessage([chunk.subarray(0, 2), chunk.subarray(7, 9)])).toEqual(Buffer.from([0xc0, 0x00, 0xe0, 0x00]));
  });
});
