/**
 * The sidecar link's frames: each kind round-trips, FANOUT patches each
 * device's packet ids into the right PUBLISH, and anything malformed is a
 * LinkProtocolError (never another exception, never a partial read).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAll } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { LinkProtocolError, LinkProtocolVersion, LinkSubprotocol, decodeLinkFrames, encodeLinkFrames, fanoutBytesFor, frameSize, type LinkFrame } from '../../shared/link-protocol.ts';

const publish = (messageId: number, topic = 't/1'): Uint8Array =>
  encodePacket({ cmd: 'publish', topic, payload: Buffer.from('payload'), qos: 1, messageId, retain: false, dup: false }, 4);

describe('link frames', () => {
  it('names its version in the subprotocol', () => {
    expect(LinkSubprotocol).toBe(`mqtt-link.${LinkProtocolVersion}`);
  });

  it('round-trip, several to a message, each of the size frameSize says', () => {
    const frames: LinkFrame[] = [
      { type: 'hello', version: LinkProtocolVersion, name: 'sidecar-é' },
      { type: 'open', channel: 1, address: '10.0.0.7:51234' },
      { type: 'open', channel: 0xffffffff, address: '' },
      { type: 'data', channel: 1, bytes: Uint8Array.of(0xc0, 0x00) },
      { type: 'close', channel: 1, code: 4000, reason: 'device connection lost' },
      { type: 'close', channel: 2, code: 1000 },
      { type: 'fanout', chunks: [{ bytes: publish(1), patched: true }, { bytes: Uint8Array.of(0xd0, 0x00), patched: false }], devices: [{ channel: 3, packetIds: [7] }, { channel: 4, packetIds: [65535] }] },
    ];
    const message = encodeLinkFrames(frames);
    expect(message.byteLength).toBe(frames.reduce((sum, frame) => sum + frameSize(frame), 0));
    // Bytes compared as plain arrays: the decoded ones are views on the message.
    const plain = (value: unknown): unknown =>
      value instanceof Uint8Array ? [...value] : Array.isArray(value) ? value.map(plain) : typeof value === 'object' && value !== null ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) : value;
    expect(plain(decodeLinkFrames(message))).toEqual(plain(frames));
  });

  it('cut a CLOSE reason to 123 bytes of UTF-8, as a WebSocket close reason', () => {
    const [frame] = decodeLinkFrames(encodeLinkFrames([{ type: 'close', channel: 1, code: 1000, reason: 'ü'.repeat(200) }]));
    expect(frame).toMatchObject({ type: 'close' });
    const reason = (frame as { reason: string }).reason;
    expect(new TextEncoder().encode(reason).byteLength).toBeLessThanOrEqual(123);
    expect(reason).toBe('ü'.repeat(61));
  });

  it('give each device of a FANOUT its own packet ids, leaving the shared bytes as they were', () => {
    const shared = publish(1);
    const original = Uint8Array.from(shared);
    const chunks = [{ bytes: shared, patched: true }, { bytes: publish(1, 'other'), patched: true }];
    const forA = decodeAll(Buffer.from(fanoutBytesFor(chunks, [10, 11])), 4).packets;
    const forB = decodeAll(Buffer.from(fanoutBytesFor(chunks, [300, 301])), 4).packets;
    expect(forA.map((p) => (p.cmd === 'publish' ? p.messageId : undefined))).toEqual([10, 11]);
    expect(forB.map((p) => (p.cmd === 'publish' ? p.messageId : undefined))).toEqual([300, 301]);
    expect(Buffer.from(shared)).toEqual(Buffer.from(original));
  });

  it.each<[string, Uint8Array]>([
    ['an unknown type', Uint8Array.of(0x07)],
    ['a truncated HELLO', Uint8Array.of(0x00, 1, 0, 5, 0x61)],
    ['a truncated OPEN', Uint8Array.of(0x01, 0, 0)],
    ['an empty DATA', Uint8Array.of(0x02, 0, 0, 0, 1, 0, 0, 0, 0)],
    ['a DATA longer than the message', Uint8Array.of(0x02, 0, 0, 0, 1, 0, 0, 1, 0, 0xc0)],
    ['a CLOSE without its code', Uint8Array.of(0x03, 0, 0, 0, 1, 0)],
    ['a FANOUT without chunks', Uint8Array.of(0x04, 0, 0, 0, 0)],
    ['a FANOUT chunk flag of 2', Uint8Array.of(0x04, 0, 1, 2, 0, 0, 0, 2, 0xc0, 0, 0, 0)],
    ['a FANOUT packet id 0', Uint8Array.of(0x04, 0, 1, 1, 0, 0, 0, 2, 0xc0, 0, 0, 1, 0, 0, 0, 1, 0, 0)],
    ['a HELLO name that is not UTF-8', Uint8Array.of(0x00, 1, 0, 1, 0xff)],
  ])('refuse %s', (_what, bytes) => {
    expect(() => decodeLinkFrames(bytes)).toThrow(LinkProtocolError);
  });

  it('throw nothing but LinkProtocolError for any bytes, and read back what they encode', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const frames = decodeLinkFrames(bytes);
          // What decodes is exactly the input again (no byte skipped or invented).
          expect(Buffer.from(encodeLinkFrames(frames))).toEqual(Buffer.from(bytes));
        } catch (error) {
          if (!(error instanceof LinkProtocolError)) throw error;
        }
      }),
      { numRuns: 5000, seed: 20261201 },
    );
  });
});
