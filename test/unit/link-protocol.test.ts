/**
 * The sidecar link's frames: each kind round-trips, FANOUT patches each
 * device's packet ids into the right PUBLISH, a length-prefixed frame of a
 * later version is read past (for the receiver to skip), a STATUS body is
 * checked and bounded, and anything malformed is a LinkProtocolError (never
 * another exception, never a partial read).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAll } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { LinkProtocolError, LinkProtocolVersion, LinkSubprotocol, LinkSubprotocols, decodeLinkFrames, encodeLinkFrames, fanoutBytesFor, frameSize, linkVersionOf, type LinkFrame } from '../../shared/link-protocol.ts';
import { MaxBridges, decodeLinkStatus, encodeLinkStatus, type BridgeStatus } from '../../shared/link-status.ts';

const bridge = (name: string): BridgeStatus => ({ name, remote: '10.0.0.5:1883', state: 'connected', since: 1_767_225_600_000, messagesIn: 12, messagesOut: 3 });

/** A STATUS frame with `body` as its JSON. */
function statusFrame(body: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(body));
  return Uint8Array.from([0x05, 0, 0, json.byteLength >> 8, json.byteLength & 0xff, ...json]);
}

const publish = (messageId: number, topic = 't/1'): Uint8Array =>
  encodePacket({ cmd: 'publish', topic, payload: Buffer.from('payload'), qos: 1, messageId, retain: false, dup: false }, 4);

describe('link frames', () => {
  it('names its version in the subprotocol, and offers every version it speaks, newest first', () => {
    expect(LinkSubprotocol).toBe(`mqtt-link.${LinkProtocolVersion}`);
    expect(LinkSubprotocols).toEqual(['mqtt-link.3', 'mqtt-link.2', 'mqtt-link.1']);
    expect(linkVersionOf('mqtt-link.1')).toBe(1);
    expect(linkVersionOf('mqtt-link.2')).toBe(2);
    expect(linkVersionOf('mqtt-link.3')).toBe(3);
    expect(linkVersionOf('mqtt-link.4')).toBeUndefined();
    expect(linkVersionOf('mqtt')).toBeUndefined();
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
      { type: 'status', status: { bridges: [bridge('factory-7'), { ...bridge('hq'), state: 'backing-off', error: 'connect ECONNREFUSED 10.0.0.6:1883' }] } },
      { type: 'status', status: { bridges: [] } },
      { type: 'window', link: 4 * 1024 * 1024, channel: 256 * 1024 },
      { type: 'credit', grants: [{ channel: 7, bytes: 65_536 }, { channel: 0, bytes: 0xffffffff }] },
      { type: 'credit', grants: [] },
      { type: 'unknown', frameType: 0x09, body: Uint8Array.of(1, 2, 3) },
      { type: 'unknown', frameType: 0xff, body: new Uint8Array(0) },
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

  it('read past a frame of a later version between others, by its length: the receiver skips it', () => {
    const message = encodeLinkFrames([{ type: 'data', channel: 1, bytes: Uint8Array.of(0xc0, 0x00) }]);
    const later = Uint8Array.of(0x2a, 0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef);
    const close = encodeLinkFrames([{ type: 'close', channel: 1, code: 1000 }]);
    const frames = decodeLinkFrames(Uint8Array.from([...message, ...later, ...close]));
    expect(frames.map((frame) => frame.type)).toEqual(['data', 'unknown', 'close']);
    expect(frames[1]).toMatchObject({ frameType: 0x2a });
  });

  it.each<[string, Uint8Array]>([
    ['a later type without its length', Uint8Array.of(0x07)],
    ['a later type longer than the message', Uint8Array.of(0x07, 0, 0, 0, 9, 1)],
    ['a STATUS that is not JSON', Uint8Array.of(0x05, 0, 0, 0, 1, 0x7b)],
    ['a STATUS without its bridges', statusFrame({ devices: [] })],
    ['a STATUS with a bridge in a state nobody knows', statusFrame({ bridges: [{ ...bridge('b'), state: 'dancing' }] })],
    ['a STATUS with a negative count', statusFrame({ bridges: [{ ...bridge('b'), messagesIn: -1 }] })],
    ['a truncated HELLO', Uint8Array.of(0x00, 1, 0, 5, 0x61)],
    ['a truncated OPEN', Uint8Array.of(0x01, 0, 0)],
    ['an empty DATA', Uint8Array.of(0x02, 0, 0, 0, 1, 0, 0, 0, 0)],
    ['a DATA longer than the message', Uint8Array.of(0x02, 0, 0, 0, 1, 0, 0, 1, 0, 0xc0)],
    ['a CLOSE without its code', Uint8Array.of(0x03, 0, 0, 0, 1, 0)],
    ['a FANOUT without chunks', Uint8Array.of(0x04, 0, 0, 0, 0)],
    ['a FANOUT chunk flag of 2', Uint8Array.of(0x04, 0, 1, 2, 0, 0, 0, 2, 0xc0, 0, 0, 0)],
    ['a FANOUT packet id 0', Uint8Array.of(0x04, 0, 1, 1, 0, 0, 0, 2, 0xc0, 0, 0, 1, 0, 0, 0, 1, 0, 0)],
    ['a HELLO name that is not UTF-8', Uint8Array.of(0x00, 1, 0, 1, 0xff)],
    ['a WINDOW of 4 bytes', Uint8Array.of(0x06, 0, 0, 0, 4, 0, 0, 1, 0)],
    ['a WINDOW of 0 bytes for a channel', Uint8Array.of(0x06, 0, 0, 0, 8, 0, 0x40, 0, 0, 0, 0, 0, 0)],
    ['a CREDIT that is not whole pairs', Uint8Array.of(0x07, 0, 0, 0, 4, 0, 0, 0, 1)],
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

describe('a STATUS report', () => {
  it('keeps the fields it knows, drops the others, and bounds what it keeps', () => {
    const many = Array.from({ length: MaxBridges + 10 }, (_, i) => ({ ...bridge(`b${i}`), colour: 'blue' }));
    const read = decodeLinkStatus(encodeLinkStatus({ bridges: many as BridgeStatus[] }));
    expect(read?.bridges).toHaveLength(MaxBridges);
    expect(read?.bridges[0]).toEqual(bridge('b0'));
    const long = decodeLinkStatus(encodeLinkStatus({ bridges: [{ ...bridge('x'.repeat(1000)), error: 'e'.repeat(1000) }] }));
    expect(long?.bridges[0]?.name).toHaveLength(200);
    expect(long?.bridges[0]?.error).toHaveLength(200);
  });
});
