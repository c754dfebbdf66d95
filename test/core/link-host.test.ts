/**
 * The edge's end of a sidecar link, in-process: the namespace core with
 * SQLite from sql.js and a LinkHost whose socket records what it sends.
 * Frames are what the sidecar would send; replies are decoded per channel.
 */
import { ConnectionLog } from '../../edge/core/connection-log.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import { LinkProtocolVersion, decodeLinkFrames, encodeLinkFrames, fanoutBytesFor, type LinkFrame } from '../../shared/link-protocol.ts';
import { BridgeCloseCode } from '../../shared/bridge-close-codes.ts';
import { LinkDeviceStore } from '../../edge/link/link-device-store.ts';
import { LinkHost, type LinkAttachment, type LinkCore } from '../../edge/link/link-host.ts';
import type { LinkWindows } from '../../edge/link/flow-control.ts';
import { CoreHarness, settleMicrotasks } from './harness.ts';

let harness: CoreHarness | undefined;
afterEach(() => harness?.close());

/** A sidecar's view of one link: what it sent, and each channel's packets back. */
class FakeSidecar {
  readonly host: LinkHost;
  readonly messages: Uint8Array[] = [];
  readonly frames: LinkFrame[] = [];
  closedWith: { code: number; reason: string } | undefined;
  readonly attachment: LinkAttachment;
  private readonly decoders = new Map<number, PacketDecoder>();
  readonly packets = new Map<number, MqttPacket[]>();
  readonly levels = new Map<number, ProtocolLevel>();
  readonly devices: LinkDeviceStore;

  constructor(
    readonly harness: CoreHarness,
    attachment?: LinkAttachment,
    windows?: LinkWindows,
  ) {
    // As the namespace object opens a link: at the version of its subprotocol, here the newest.
    this.attachment = attachment ?? { v: 1, kind: 'link', id: `link-${harness.nextId()}`, version: LinkProtocolVersion };
    this.devices = new LinkDeviceStore(harness.sql);
    const logger = { log: (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, string | number | boolean | undefined | null> = {}) => void harness.logs.push({ level, event, fields }) };
    this.host = new LinkHost(
      this.attachment,
      {
        send: (bytes) => {
          if (this.closedWith !== undefined) throw new Error('send on a closed link');
          this.messages.push(bytes);
          for (const frame of decodeLinkFrames(bytes)) this.take(frame);
        },
        close: (code, reason) => {
          this.closedWith ??= { code, reason };
        },
      },
      this.devices,
      new ConnectionLog(logger, 'link-test', () => Date.now()),
      () => undefined,
      'sidecar',
      undefined,
      windows,
    );
  }

  async send(...frames: LinkFrame[]): Promise<void> {
    await this.sendRaw(encodeLinkFrames(frames));
  }

  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.host.receive(this.harness.core, bytes);
    await settleMicrotasks();
  }

  async hello(): Promise<void> {
    await this.send({ type: 'hello', version: LinkProtocolVersion, name: 'test-sidecar' });
  }

  /** Opens a channel and connects a device on it. */
  async connect(channel: number, clientId: string, level: ProtocolLevel = 4, extra: Partial<Extract<MqttPacket, { cmd: 'connect' }>> = {}): Promise<void> {
    this.levels.set(channel, level);
    const connect: MqttPacket = { cmd: 'connect', protocolId: level === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 60, ...extra };
    await this.send({ type: 'open', channel, address: `10.0.0.${channel}:1883` }, { type: 'data', channel, bytes: encodePacket(connect, level) });
  }

  async packet(channel: number, packet: MqttPacket): Promise<void> {
    await this.send({ type: 'data', channel, bytes: encodePacket(packet, this.levels.get(channel) ?? 4) });
  }

  of(channel: number): MqttPacket[] {
    return this.packets.get(channel) ?? [];
  }

  private take(frame: LinkFrame): void {
    this.frames.push(frame);
    if (frame.type === 'data') this.deliver(frame.channel, frame.bytes);
    if (frame.type === 'fanout') for (const device of frame.devices) this.deliver(device.channel, fanoutBytesFor(frame.chunks, device.packetIds));
  }

  private deliver(channel: number, bytes: Uint8Array): void {
    let decoder = this.decoders.get(channel);
    if (decoder === undefined) {
      decoder = new PacketDecoder({ maxPacketSize: 1 << 28, protocolLevel: this.levels.get(channel) ?? 4 });
      this.decoders.set(channel, decoder);
    }
    const { packets, error } = decoder.push(bytes);
    if (error !== undefined) throw new Error(`channel ${channel}: ${error.message}`);
    this.packets.set(channel, [...this.of(channel), ...packets]);
  }
}

async function setUp(): Promise<{ harness: CoreHarness; sidecar: FakeSidecar }> {
  harness = await CoreHarness.create();
  const sidecar = new FakeSidecar(harness);
  await sidecar.hello();
  return { harness, sidecar };
}

describe('a sidecar link at the edge', () => {
  it('answers HELLO and carries each device as a connection of its own', async () => {
    const { harness, sidecar } = await setUp();
    expect(sidecar.frames[0]).toMatchObject({ type: 'hello', version: LinkProtocolVersion });
    await sidecar.connect(1, 'dev-1');
    await sidecar.connect(2, 'dev-2', 5);
    expect(sidecar.of(1).map((p) => p.cmd)).toEqual(['connack']);
    expect(sidecar.of(2).map((p) => p.cmd)).toEqual(['connack']);
    expect(harness.core.stats().connected).toBe(2);
    const summary = harness.core.listClients().find((client) => client.clientId === 'dev-1');
    expect(summary).toMatchObject({ bridged: true });
  });

  it('sends a message many devices get alike across the link once, each with its own packet id', async () => {
    const { harness, sidecar } = await setUp();
    for (let channel = 1; channel <= 5; channel++) {
      await sidecar.connect(channel, `dev-${channel}`);
      await sidecar.packet(channel, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'all/#', qos: 1 }] });
    }
    // One device already holds a packet id: its id for the fan-out differs from the others'.
    await sidecar.packet(5, { cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'solo', qos: 1 }] });
    const publisher = harness.open();
    await publisher.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'pub', clean: true, keepalive: 0 });
    await publisher.send({ cmd: 'publish', topic: 'solo', payload: Buffer.from('first'), qos: 1, messageId: 1, retain: false, dup: false });
    const before = sidecar.messages.length;
    await publisher.send({ cmd: 'publish', topic: 'all/x', payload: Buffer.from('to everyone'), qos: 1, messageId: 2, retain: false, dup: false });

    expect(sidecar.messages.length - before).toBe(1);
    const fanouts = sidecar.frames.filter((frame) => frame.type === 'fanout');
    expect(fanouts).toHaveLength(1);
    expect(fanouts[0]).toMatchObject({ devices: expect.arrayContaining([expect.objectContaining({ channel: 1 }), expect.objectContaining({ channel: 5 })]) });
    for (let channel = 1; channel <= 5; channel++) {
      const publishes = sidecar.of(channel).filter((p) => p.cmd === 'publish' && p.topic === 'all/x');
      expect(publishes).toHaveLength(1);
      expect(publishes[0]).toMatchObject({ payload: Buffer.from('to everyone'), qos: 1 });
    }
    const ids = (channel: number): number[] => sidecar.of(channel).flatMap((p) => (p.cmd === 'publish' ? [p.messageId as number] : []));
    expect(ids(5)).toEqual([1, 2]);
    expect(ids(1)).toEqual([1]);
    // Acknowledging the patched ids empties every window.
    for (let channel = 1; channel <= 5; channel++) for (const id of ids(channel)) await sidecar.packet(channel, { cmd: 'puback', messageId: id });
    expect(harness.core.listClients().every((client) => client.inflight === 0)).toBe(true);
    expect(harness.core.stats().counters.acksUnmatched ?? 0).toBe(0);
  });

  it('ends a device whose sidecar says it went (its will is published) and answers the CLOSE', async () => {
    const { harness, sidecar } = await setUp();
    const watcher = harness.open();
    await watcher.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'watcher', clean: true, keepalive: 0 });
    await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 0 }] });
    await sidecar.connect(7, 'dev-7', 4, { will: { topic: 'wills/dev-7', payload: Buffer.from('gone'), qos: 0, retain: false } });
    await sidecar.send({ type: 'close', channel: 7, code: BridgeCloseCode.DeviceLost, reason: 'device connection lost' });
    expect(sidecar.frames.at(-1)).toMatchObject({ type: 'close', channel: 7, code: BridgeCloseCode.DeviceLost });
    expect(watcher.received('publish').map((p) => p.topic)).toEqual(['wills/dev-7']);
    expect(harness.core.stats().connected).toBe(1);
    // Packets still on their way for the closed channel are dropped, not an error.
    await sidecar.packet(7, { cmd: 'pingreq' });
    expect(sidecar.closedWith).toBeUndefined();
  });

  it('sends a CLOSE when the edge ends a device, and only that device', async () => {
    const { harness, sidecar } = await setUp();
    await sidecar.connect(1, 'same');
    await sidecar.connect(2, 'other');
    // A takeover from a third channel closes the first.
    await sidecar.connect(3, 'same', 5);
    expect(sidecar.frames).toContainEqual(expect.objectContaining({ type: 'close', channel: 1 }));
    expect(sidecar.frames).not.toContainEqual(expect.objectContaining({ type: 'close', channel: 2 }));
    expect(harness.core.stats().connected).toBe(2);
  });

  it.each<[string, () => Uint8Array]>([
    ['an unknown frame type', () => Uint8Array.of(0x09)],
    ['a truncated DATA frame', () => encodeLinkFrames([{ type: 'data', channel: 1, bytes: Uint8Array.of(0xc0, 0x00) }]).subarray(0, 8)],
    ['an OPEN of an open channel', () => encodeLinkFrames([{ type: 'open', channel: 1, address: '' }])],
    ['channel 0', () => encodeLinkFrames([{ type: 'open', channel: 0, address: '' }])],
    ['a FANOUT from the sidecar', () => encodeLinkFrames([{ type: 'fanout', chunks: [{ bytes: Uint8Array.of(0xd0, 0x00), patched: false }], devices: [{ channel: 1, packetIds: [] }] }])],
    ['a second HELLO', () => encodeLinkFrames([{ type: 'hello', version: LinkProtocolVersion, name: 'again' }])],
    ['an address that is not UTF-8', () => Uint8Array.of(0x01, 0, 0, 0, 9, 0, 1, 0xff)],
  ])('closes the link on %s with a logged reason; the namespace and its other clients go on', async (_what, frame) => {
    const { harness, sidecar } = await setUp();
    const watcher = harness.open();
    await watcher.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'watcher', clean: true, keepalive: 0 });
    await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 0 }] });
    await sidecar.connect(1, 'dev-1', 4, { will: { topic: 'wills/dev-1', payload: Buffer.from('gone'), qos: 0, retain: false } });

    await sidecar.sendRaw(frame());
    expect(sidecar.closedWith?.code).toBe(1002);
    expect(sidecar.closedWith?.reason).toMatch(/^link protocol error: /);
    expect(harness.logs.filter((line) => line.event === 'link_protocol_error')).toHaveLength(1);
    // The device on the link is gone as lost: its will goes out.
    expect(watcher.received('publish').map((p) => p.topic)).toEqual(['wills/dev-1']);
    expect(harness.core.stats().connected).toBe(1);
    // What else arrives on the broken link is ignored.
    await sidecar.connect(2, 'dev-2');
    expect(harness.core.stats().connected).toBe(1);
    await watcher.send({ cmd: 'pingreq' });
    expect(watcher.received('pingresp')).toHaveLength(1);
  });

  it('refuses frames before HELLO and a HELLO of another version', async () => {
    harness = await CoreHarness.create();
    const early = new FakeSidecar(harness);
    await early.send({ type: 'open', channel: 1, address: '' });
    expect(early.closedWith?.code).toBe(1002);
    const future = new FakeSidecar(harness);
    await future.send({ type: 'hello', version: LinkProtocolVersion + 1, name: 'from the future' });
    expect(future.closedWith?.reason).toContain(`version ${LinkProtocolVersion + 1}`);
  });

  it('serves a link of version 1 as before: one opened before version 2 (its attachment names none), or by an older sidecar', async () => {
    harness = await CoreHarness.create();
    for (const attachment of [{ v: 1, kind: 'link', id: 'from-before' }, { v: 1, kind: 'link', id: 'older-sidecar', version: 1 }] satisfies LinkAttachment[]) {
      const old = new FakeSidecar(harness, attachment);
      await old.send({ type: 'hello', version: 1, name: 'old-sidecar' });
      expect(old.frames[0]).toEqual({ type: 'hello', version: 1, name: 'edge' });
      await old.connect(1, `${attachment.id}-device`);
      expect(old.of(1).map((packet) => packet.cmd)).toEqual(['connack']);
      expect(old.host.view()).toMatchObject({ version: 1, devices: 1, bridges: [] });
      expect(old.closedWith).toBeUndefined();
    }
  });

  it("keeps a sidecar's STATUS, the newest one, and skips a frame of a later version", async () => {
    const { sidecar } = await setUp();
    const bridge = { name: 'factory-7', remote: '10.0.0.5:1883', state: 'backing-off' as const, since: 5, messagesIn: 1, messagesOut: 2, error: 'connect ECONNREFUSED' };
    await sidecar.send({ type: 'status', status: { bridges: [bridge] } }, { type: 'unknown', frameType: 0x33, body: Uint8Array.of(1) });
    await sidecar.send({ type: 'status', status: { bridges: [{ ...bridge, state: 'connected' }] } });
    expect(sidecar.closedWith).toBeUndefined();
    expect(sidecar.host.view()).toMatchObject({ version: LinkProtocolVersion, bridges: [{ name: 'factory-7', state: 'connected' }] });
  });

  it('keeps its devices through hibernation: state in SQLite, a half packet included', async () => {
    const { harness, sidecar } = await setUp();
    await sidecar.connect(1, 'sleeper', 5, { clean: false, properties: { sessionExpiryInterval: 3600 } });
    await sidecar.packet(1, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wake/#', qos: 1 }] });
    const publish = encodePacket({ cmd: 'publish', topic: 'wake/self', payload: Buffer.alloc(3000, 1), qos: 1, messageId: 9, retain: false, dup: false }, 5);
    await sidecar.send({ type: 'data', channel: 1, bytes: publish.subarray(0, 1000) });

    // Memory goes; the link's WebSocket (and its attachment) stays.
    await harness.hibernate();
    const woken = new FakeSidecar(harness, sidecar.attachment);
    woken.levels.set(1, 5);
    harness.restart(woken.host.restoreDevices());
    expect(harness.core.stats().connected).toBe(1);

    await woken.send({ type: 'data', channel: 1, bytes: publish.subarray(1000) });
    const kinds = woken.of(1).map((p) => p.cmd);
    expect(kinds).toContain('puback');
    expect(woken.of(1).filter((p) => p.cmd === 'publish')).toHaveLength(1);
  });

  it('writes a device row only once it is connected, and only when its state changed', async () => {
    const { harness, sidecar } = await setUp();
    await sidecar.send({ type: 'open', channel: 1, address: '10.0.0.1:1' });
    const rows = (): number => (harness.sql.exec(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'link_devices'`).toArray()[0]?.['n'] as number) === 0 ? 0 : (harness.sql.exec('SELECT count(*) AS n FROM link_devices').toArray()[0]?.['n'] as number);
    expect(rows()).toBe(0);
    await sidecar.packet(1, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'dev', clean: true, keepalive: 60 });
    expect(rows()).toBe(1);
    const written = harness.sql.exec('SELECT state FROM link_devices').toArray()[0]?.['state'];
    for (let i = 0; i < 20; i++) {
      harness.now += 1500;
      await sidecar.packet(1, { cmd: 'publish', topic: 'x', payload: Buffer.from('y'), qos: 0, retain: false, dup: false });
    }
    // A bridged device's keep-alive is the sidecar's: its lastSeen is not written per packet.
    expect(harness.sql.exec('SELECT state FROM link_devices').toArray()[0]?.['state']).toBe(written);
    await sidecar.packet(1, { cmd: 'disconnect' });
    expect(rows()).toBe(0);
  });
});

describe('credit on a link of version 3', () => {
  const windows: LinkWindows = { link: 64 * 1024, channel: 16 * 1024 };
  const grantsOf = (sidecar: FakeSidecar): Array<{ channel: number; bytes: number }> => sidecar.frames.flatMap((frame) => (frame.type === 'credit' ? frame.grants : []));
  const creditFor = (sidecar: FakeSidecar, channel: number): number => grantsOf(sidecar).reduce((sum, grant) => sum + (grant.channel === channel ? grant.bytes : 0), 0);

  async function credited(version = LinkProtocolVersion): Promise<{ harness: CoreHarness; sidecar: FakeSidecar }> {
    harness = await CoreHarness.create();
    const sidecar = new FakeSidecar(harness, { v: 1, kind: 'link', id: `link-${harness.nextId()}`, version }, windows);
    await sidecar.send({ type: 'hello', version, name: 'test-sidecar' });
    return { harness, sidecar };
  }

  it('follows its HELLO with the windows, and returns what the core processed to the channel and the link', async () => {
    const { sidecar } = await credited();
    expect(sidecar.frames.slice(0, 2)).toEqual([
      { type: 'hello', version: LinkProtocolVersion, name: 'edge' },
      { type: 'window', link: windows.link, channel: windows.channel },
    ]);
    await sidecar.connect(1, 'credited');
    await sidecar.packet(1, { cmd: 'publish', topic: 'c/1', payload: Buffer.alloc(1000), qos: 0, retain: false, dup: false });
    // Everything sent came back as credit once processed (the channel is idle), to the channel and to the link.
    const connect = encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'credited', clean: true, keepalive: 60 }, 4).byteLength;
    const publish = encodePacket({ cmd: 'publish', topic: 'c/1', payload: Buffer.alloc(1000), qos: 0, retain: false, dup: false }, 4).byteLength;
    await expect.poll(() => creditFor(sidecar, 1)).toBe(connect + publish);
    expect(creditFor(sidecar, 0)).toBe(connect + publish);
  });

  it('credits the link at once for DATA of a channel it does not have', async () => {
    const { sidecar } = await credited();
    await sidecar.send({ type: 'data', channel: 9, bytes: Uint8Array.of(0xc0, 0x00) });
    await expect.poll(() => creditFor(sidecar, 0)).toBe(2);
    expect(creditFor(sidecar, 9)).toBe(0);
  });

  it("hands a message's frames to the devices without waiting for their work, and credits each once done", async () => {
    const { sidecar } = await credited();
    const { core, work } = heldCore();
    await sidecar.host.receive(core, encodeLinkFrames([{ type: 'open', channel: 1, address: '' }, { type: 'data', channel: 1, bytes: new Uint8Array(4000) }]));
    await sidecar.host.receive(core, encodeLinkFrames([{ type: 'data', channel: 1, bytes: new Uint8Array(3000) }]));
    expect(work).toHaveLength(2);
    await settleMicrotasks();
    expect(creditFor(sidecar, 1)).toBe(0);
    work.shift()?.();
    work.shift()?.();
    await expect.poll(() => creditFor(sidecar, 1)).toBe(7000);
    expect(creditFor(sidecar, 0)).toBe(7000);
  });

  it('grants nothing on a link of version 2, and waits for each message to be processed, as before', async () => {
    const { sidecar } = await credited(2);
    expect(sidecar.frames.map((frame) => frame.type)).toEqual(['hello']);
    await sidecar.connect(1, 'older');
    await settleMicrotasks();
    expect(grantsOf(sidecar)).toEqual([]);
    const { core, work } = heldCore();
    let returned = false;
    const handled = sidecar.host.receive(core, encodeLinkFrames([{ type: 'open', channel: 2, address: '' }, { type: 'data', channel: 2, bytes: Uint8Array.of(0xc0, 0x00) }])).then(() => (returned = true));
    await settleMicrotasks();
    expect(returned).toBe(false);
    work.shift()?.();
    await handled;
  });
});

/** A core whose work on a device's packets ends only when the test says so (`work`, oldest first). */
function heldCore(): { core: LinkCore; work: Array<() => void> } {
  const work: Array<() => void> = [];
  let accepted = 0;
  const core: LinkCore = {
    accept: () => ({ v: 1, id: `held-${++accepted}`, phase: 'awaiting-connect', acceptedAt: 0, lastSeen: 0, bridged: true, keepAlive: 0, clientReceiveMaximum: 100, clientMaxPacketSize: 0, requestProblemInformation: true }),
    receive: () => new Promise<void>((resolve) => work.push(resolve)),
    closed: async () => undefined,
    refuseInput: () => undefined,
  };
  return { core, work };
}
