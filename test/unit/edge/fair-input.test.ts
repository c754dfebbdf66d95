/**
 * A gateway's queue of its clients' input (edge/gateway/fair-input.ts) and
 * the gateway around it: each call takes the clients in turn, a fair share
 * each, within their credit and the link's; OPEN and CLOSE keep their place
 * and need no credit; a client far past its share is handed to the core to end.
 */
import { describe, expect, it } from 'vitest';
import { FairInput, ShareBytes } from '../../../edge/gateway/fair-input.ts';
import { Gateway, type GatewaySocket } from '../../../edge/gateway/gateway.ts';
import { BridgeCloseCode } from '../../../shared/bridge-close-codes.ts';
import { LinkCreditChannel, decodeLinkFrames, encodeLinkFrames, type LinkFrame } from '../../../shared/link-protocol.ts';

const data = (channel: number, size: number): Extract<LinkFrame, { type: 'data' }> => ({ type: 'data', channel, bytes: new Uint8Array(size) });
const framesOf = (message: Uint8Array): LinkFrame[] => decodeLinkFrames(message);
const dataBytesOf = (message: Uint8Array): number => framesOf(message).reduce((sum, frame) => sum + (frame.type === 'data' ? frame.bytes.byteLength : 0), 0);
const channelsOf = (message: Uint8Array): number[] => framesOf(message).map((frame) => (frame.type === 'data' || frame.type === 'open' || frame.type === 'close' ? frame.channel : -1));

describe("a gateway's input queue", () => {
  it('takes the clients in turn, a share each: a client that queued much does not keep the next one out of the call', () => {
    const input = new FairInput({ link: 1 << 30, channel: 1 << 30 });
    for (let i = 0; i < 100; i++) void input.push(data(1, 2000));
    void input.push(data(2, 100));
    const { message } = input.take(64 * 1024);
    const channels = channelsOf(message);
    expect(channels).toContain(2);
    // Client 1 gave a share before client 2's turn, not all it had.
    expect(channels.indexOf(2)).toBeLessThanOrEqual(Math.ceil(ShareBytes / 2009));
  });

  it("sends a client's DATA only within its credit (the last may overdraw), and again when credit comes", () => {
    const input = new FairInput({ link: 1 << 30, channel: 5000 });
    for (let i = 0; i < 10; i++) void input.push(data(1, 2000));
    // Three messages (the third overdraws), joined in one DATA frame.
    const first = framesOf(input.take(1 << 20).message);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ type: 'data', channel: 1, bytes: new Uint8Array(6000) });
    expect(input.ready).toBe(false);
    expect(input.unsent(1)).toBe(14_000);
    input.credit(1, 6000);
    expect(input.ready).toBe(true);
    expect(dataBytesOf(input.take(1 << 20).message)).toBe(6000);
  });

  it('holds every client while the link has no credit, and takes them in turn when it comes', () => {
    const input = new FairInput({ link: 3000, channel: 1 << 20 });
    void input.push(data(1, 4000));
    expect(framesOf(input.take(1 << 20).message)).toHaveLength(1);
    void input.push(data(1, 100));
    void input.push(data(2, 100));
    expect(input.ready).toBe(false);
    input.credit(LinkCreditChannel, 4000);
    expect(channelsOf(input.take(1 << 20).message).sort()).toEqual([1, 2]);
  });

  it('lets OPEN and CLOSE go without credit, in their place behind the DATA before them', () => {
    const input = new FairInput({ link: 1 << 20, channel: 1000 });
    void input.push({ type: 'open', channel: 1, address: '' });
    void input.push(data(1, 1500));
    void input.push(data(1, 10));
    void input.push({ type: 'close', channel: 1, code: 4000 });
    expect(framesOf(input.take(1 << 20).message).map((frame) => frame.type)).toEqual(['open', 'data']);
    input.credit(1, 1500);
    expect(framesOf(input.take(1 << 20).message).map((frame) => frame.type)).toEqual(['data', 'close']);
    expect(input.empty).toBe(true);
  });

  it('settles what it drops, and makes every window whole again after the core restarted', async () => {
    const input = new FairInput({ link: 1 << 20, channel: 1000 });
    void input.push(data(1, 1000));
    input.take(1 << 20);
    const dropped = input.push(data(1, 10));
    input.drop(1);
    await dropped;
    expect(input.unsent(1)).toBe(0);
    void input.push(data(1, 10));
    expect(input.ready).toBe(false);
    input.resetCredit();
    expect(input.ready).toBe(true);
  });
});

class Socket implements GatewaySocket {
  closedWith: { code: number; reason: string } | undefined;
  send(): void {}
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
}

describe('a gateway', () => {
  it('asks the core to end a client whose unsent input passes its bound, drops what it queued, and takes no more of it', async () => {
    const calls: Uint8Array[] = [];
    const overBacklog: number[] = [];
    const gateway = new Gateway<Socket>(
      'gw/test',
      [],
      // The core takes the first call and never credits anything.
      { frames: async (message) => void calls.push(message) },
      () => undefined,
      { windows: { link: 1 << 20, channel: 4096 }, backlogBytes: 64 * 1024, onOverBacklog: (channel, unsent) => overBacklog.push(channel, unsent), random: () => 0 },
    );
    const flooder = new Socket();
    const witness = new Socket();
    const channel = gateway.open(flooder, '10.0.0.1:1');
    const other = gateway.open(witness, '10.0.0.2:1');
    for (let i = 0; i < 40; i++) void gateway.received(channel, new Uint8Array(2000));
    expect(overBacklog[0]).toBe(channel);
    expect(overBacklog[1]).toBeGreaterThan(64 * 1024);
    expect(gateway.unsent(channel)).toBe(0);
    // Its socket stays open for the core's DISCONNECT; the core's CLOSE closes it.
    expect(flooder.closedWith).toBeUndefined();
    // The witness is untouched and still gets its bytes to the core.
    await gateway.received(other, Uint8Array.of(0xc0, 0x00));
    expect(witness.closedWith).toBeUndefined();
    const frames = calls.flatMap((message) => decodeLinkFrames(message));
    expect(frames).toContainEqual({ type: 'close', channel, code: BridgeCloseCode.TooMuchInput });
    expect(frames.some((frame) => frame.type === 'data' && frame.channel === other)).toBe(true);
    gateway.deliver(encodeLinkFrames([{ type: 'close', channel, code: 1002, reason: 'message rate too high' }]));
    expect(flooder.closedWith).toEqual({ code: 1002, reason: 'message rate too high' });
  });
});
