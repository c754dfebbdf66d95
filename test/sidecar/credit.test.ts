/**
 * Credit on the link, from the sidecar's side (docs/link-protocol.md,
 * version 3): no DATA before the edge's WINDOW; a device sends only within
 * its credit and is not read while it has none (its TCP connection slows
 * it, nothing piles up here), and reads on when CREDIT comes; devices
 * waiting for the link's credit get it in turn; a device's CLOSE waits
 * behind its packets. A version 2 edge grants nothing and gets DATA as it
 * comes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { LinkCreditChannel, type LinkFrame } from '../../shared/link-protocol.ts';
import { closeStarted, connectDevice, connectPacket, startFakeEdge, startTestSidecar, waitUntil, type EdgeLinkConnection, type FakeEdge, type TestSidecar } from './harness.ts';

afterEach(closeStarted);

const Window = { link: 64 * 1024, channel: 16 * 1024 };

function publish(size: number, sequence = 0): Uint8Array {
  return encodePacket({ cmd: 'publish', topic: 'credit', payload: Buffer.alloc(size, sequence & 0xff), qos: 0, retain: false, dup: false }, 4);
}

const dataOf = (link: EdgeLinkConnection, channel?: number): Array<Extract<LinkFrame, { type: 'data' }>> =>
  link.frames.filter((frame): frame is Extract<LinkFrame, { type: 'data' }> => frame.type === 'data' && (channel === undefined || frame.channel === channel));
const bytesOf = (link: EdgeLinkConnection, channel: number): number => dataOf(link, channel).reduce((sum, frame) => sum + frame.bytes.byteLength, 0);

async function setUp(returnCredit: boolean, linkVersion?: number): Promise<{ edge: FakeEdge; port: number; sidecar: TestSidecar }> {
  const edge = await startFakeEdge({ windows: Window, returnCredit, ...(linkVersion === undefined ? {} : { linkVersion }) });
  const sidecar = await startTestSidecar(edge.url, { MQTT_BRIDGE_SECRET: 'credit-secret', MQTT_HIGH_WATER_BYTES: String(1024 * 1024) });
  return { edge, port: sidecar.sidecar.tcpPort, sidecar };
}

describe('credit on a version 3 link', () => {
  it('sends a device only its credit, stops reading it meanwhile, and reads it again when credit comes', async () => {
    const { edge, port, sidecar } = await setUp(false);
    const device = await connectDevice(port);
    const connect = encodePacket(connectPacket(4, { keepalive: 0 }), 4);
    device.write(connect);
    await waitUntil(() => edge.links[0] !== undefined && dataOf(edge.links[0]).length === 1, 'the CONNECT');
    const link = edge.links[0] as EdgeLinkConnection;
    const channel = dataOf(link)[0]?.channel as number;
    // The WINDOW came before any DATA left.
    expect(link.frames.findIndex((frame) => frame.type === 'open')).toBeLessThan(link.frames.findIndex((frame) => frame.type === 'data'));

    // 1 MiB offered in 4 KiB packets: far more than the 16 KiB window.
    let offered = 0;
    while (offered < 1024 * 1024 && device.socket.write(publish(4096, offered))) offered += 4096 + 9;
    await waitUntil(() => bytesOf(link, channel) >= Window.channel, 'the window used');
    const sent = bytesOf(link, channel);
    // One message past the window at most (a message is never split): the rest waits in the device's socket.
    expect(sent).toBeLessThan(Window.channel + 64 * 1024 + connect.length);
    // Not read meanwhile: the sidecar holds one read of it at most (the high-water mark is 1 MiB here), the rest waits in the sockets.
    expect(sidecar.sidecar.stats().bufferedToEdge).toBeLessThan(128 * 1024);

    // Credit for what was sent: the device is read and sent again.
    link.sendFrames([{ type: 'credit', grants: [{ channel, bytes: sent }, { channel: LinkCreditChannel, bytes: sent }] }]);
    await waitUntil(() => bytesOf(link, channel) > sent, 'more DATA after the CREDIT');
    device.socket.destroy();
  });

  it("keeps a device's CLOSE behind its packets that wait for credit, and lets it go with them", async () => {
    const { edge, port } = await setUp(false);
    const device = await connectDevice(port);
    device.write(encodePacket(connectPacket(4, { keepalive: 0 }), 4));
    await waitUntil(() => edge.links[0] !== undefined && dataOf(edge.links[0]).length === 1, 'the CONNECT');
    const link = edge.links[0] as EdgeLinkConnection;
    const channel = dataOf(link)[0]?.channel as number;
    device.write(publish(Window.channel));
    await waitUntil(() => dataOf(link, channel).length === 2, 'the window used');
    // A DISCONNECT without credit, and the device gone: the bridge closes the channel at once, its CLOSE waits.
    device.write(Buffer.concat([publish(100, 1), encodePacket({ cmd: 'disconnect' }, 4)]));
    device.socket.end();
    await device.closed;
    expect(link.frames.some((frame) => frame.type === 'close')).toBe(false);
    expect(dataOf(link, channel)).toHaveLength(2);
    link.sendFrames([{ type: 'credit', grants: [{ channel, bytes: Window.channel }] }]);
    await waitUntil(() => link.frames.some((frame) => frame.type === 'close'), 'the CLOSE');
    const last = dataOf(link, channel).at(-1) as Extract<LinkFrame, { type: 'data' }>;
    expect(last.bytes.at(-2)).toBe(0xe0);
    expect(link.frames.findIndex((frame) => frame === last)).toBeLessThan(link.frames.findIndex((frame) => frame.type === 'close'));
    expect(link.frames.find((frame) => frame.type === 'close')).toMatchObject({ channel, code: 1000 });
  });

  it("gives devices waiting for the link's credit their turn, one message each", async () => {
    const { edge, port } = await setUp(false);
    const devices = await Promise.all([0, 1, 2].map(() => connectDevice(port)));
    devices.forEach((device, i) => device.write(encodePacket(connectPacket(4, { clientId: `turn-${i}`, keepalive: 0 }), 4)));
    await waitUntil(() => edge.links[0] !== undefined && dataOf(edge.links[0]).length === 3, 'the CONNECTs');
    const link = edge.links[0] as EdgeLinkConnection;
    const channels = dataOf(link).map((frame) => frame.channel);
    const connectBytes = dataOf(link).reduce((sum, frame) => sum + frame.bytes.byteLength, 0);
    // Spend the link's credit (each channel has its own left), then each device offers two messages.
    link.sendFrames(channels.map((channel) => ({ type: 'credit' as const, grants: [{ channel, bytes: 1024 * 1024 }] })));
    const filler = await connectDevice(port);
    filler.write(encodePacket(connectPacket(4, { clientId: 'filler', keepalive: 0 }), 4));
    await waitUntil(() => dataOf(link).length === 4, 'the filler');
    const fillerChannel = dataOf(link).at(-1)?.channel as number;
    link.sendFrames([{ type: 'credit', grants: [{ channel: fillerChannel, bytes: 1024 * 1024 }] }]);
    filler.write(publish(Window.link));
    await waitUntil(() => bytesOf(link, fillerChannel) > Window.link / 2, 'the link credit spent');
    const before = dataOf(link).length;
    for (const device of devices) device.write(publish(100));
    for (const device of devices) device.write(publish(100));
    // Nothing goes until the link's credit comes back.
    expect(dataOf(link).length).toBe(before);
    link.sendFrames([{ type: 'credit', grants: [{ channel: LinkCreditChannel, bytes: Window.link + connectBytes }] }]);
    await waitUntil(() => dataOf(link).length >= before + 3, 'the waiting devices');
    // Each of the three went before any of them went twice.
    expect(new Set(dataOf(link).slice(before, before + 3).map((frame) => frame.channel))).toEqual(new Set(channels));
  });
});

describe('a version 2 edge', () => {
  it('grants no credit, and gets DATA as it comes', async () => {
    const { edge, port } = await setUp(false, 2);
    const device = await connectDevice(port);
    device.write(encodePacket(connectPacket(4, { keepalive: 0 }), 4));
    await waitUntil(() => edge.links[0] !== undefined && dataOf(edge.links[0]).length === 1, 'the CONNECT');
    const link = edge.links[0] as EdgeLinkConnection;
    expect(link.frames.some((frame) => frame.type === 'window' || frame.type === 'credit')).toBe(false);
    const channel = dataOf(link)[0]?.channel as number;
    device.write(Buffer.concat(Array.from({ length: 16 }, (_, i) => publish(16 * 1024, i))));
    await waitUntil(() => bytesOf(link, channel) > 16 * (16 * 1024), 'all of it, without credit');
    device.socket.destroy();
  });
});
