/**
 * A namespace spread over objects, in-process: the real core (sql.js), its
 * GatewayLinks, and real Gateway objects, wired by calls that cross an
 * event-loop turn as RPC does. Clients are fake sockets on the gateways
 * that decode what they receive. The same paths run on workerd in the
 * `gateways` test project; here each is pinned down exactly (calls per
 * destination, restarts of either side).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionLog } from '../../edge/core/connection-log.ts';
import { Gateway, type GatewaySocket } from '../../edge/gateway/gateway.ts';
import { GatewayLinks } from '../../edge/gateway/gateway-links.ts';
import { OutputMarker, QuietMs } from '../../edge/gateway/output-marker.ts';
import { LinkDeviceStore } from '../../edge/link/link-device-store.ts';
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import { encodeLinkFrames } from '../../shared/link-protocol.ts';
import { BridgeCloseCode } from '../../shared/bridge-close-codes.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { CoreHarness, settleMicrotasks } from './harness.ts';

let harness: CoreHarness | undefined;
afterEach(() => harness?.close());

class FakeClient implements GatewaySocket {
  readonly packets: MqttPacket[] = [];
  closedWith: { code: number; reason: string } | undefined;
  channel = 0;
  private readonly decoder: PacketDecoder;

  constructor(
    readonly world: World,
    readonly gateway: Gateway<FakeClient>,
    readonly level: ProtocolLevel,
  ) {
    this.decoder = new PacketDecoder({ maxPacketSize: 1 << 20, protocolLevel: level });
  }

  send(bytes: Uint8Array): void {
    if (this.closedWith !== undefined) throw new Error('send on a closed socket');
    const { packets, error } = this.decoder.push(bytes);
    if (error !== undefined) throw error;
    this.packets.push(...packets);
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  async write(packet: MqttPacket): Promise<void> {
    await this.gateway.received(this.channel, encodePacket(packet, this.level));
    await this.world.settle();
  }

  async drop(): Promise<void> {
    this.closedWith ??= { code: 1006, reason: 'dropped' };
    await this.gateway.closed(this.channel);
    await this.world.settle();
  }

  received<C extends MqttPacket['cmd']>(cmd: C): Array<Extract<MqttPacket, { cmd: C }>> {
    return this.packets.filter((packet): packet is Extract<MqttPacket, { cmd: C }> => packet.cmd === cmd);
  }
}

/** One core and its gateways; `calls` counts the cross-object calls by direction and gateway. */
class World {
  readonly gateways = new Map<string, Gateway<FakeClient>>();
  readonly clients = new Map<string, FakeClient[]>();
  readonly calls: Array<{ to: string; kind: 'frames' | 'deliver' | 'probe' | 'reset' }> = [];
  links: GatewayLinks;
  /** The core's calls to gateways go nowhere and never answer (it is about to die with them on their way). */
  deliveriesLost = false;

  constructor(readonly harness: CoreHarness) {
    this.links = this.makeLinks();
  }

  private makeLinks(): GatewayLinks {
    const logger = { log: (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, string | number | boolean | undefined | null> = {}) => void this.harness.logs.push({ level, event, fields }) };
    const marker = new OutputMarker(this.harness.sql, () => this.harness.core.hasStorage, (ms, callback) => this.harness.setTimer(ms, callback), () => this.harness.now);
    return new GatewayLinks(new LinkDeviceStore(this.harness.sql), new ConnectionLog(logger, 'default', () => this.harness.now), () => this.harness.core, {
      deliver: async (gateway, message) => {
        if (this.deliveriesLost) return new Promise<number[]>(() => undefined);
        await crossing();
        this.calls.push({ to: gateway, kind: 'deliver' });
        return this.gateway(gateway).deliver(message);
      },
      reset: async (gateway, reason) => {
        await crossing();
        this.calls.push({ to: gateway, kind: 'reset' });
        this.gateway(gateway).closeAll(1013, reason);
      },
      probe: async (gateway) => {
        await crossing();
        this.calls.push({ to: gateway, kind: 'probe' });
        return this.gateway(gateway).liveChannels();
      },
    }, marker);
  }

  gateway(name: string): Gateway<FakeClient> {
    let gateway = this.gateways.get(name);
    if (gateway === undefined) {
      gateway = this.startGateway(name, []);
    }
    return gateway;
  }

  /** A gateway object starting: with the sockets that survived (none after a restart). */
  startGateway(name: string, surviving: FakeClient[]): Gateway<FakeClient> {
    const gateway: Gateway<FakeClient> = new Gateway<FakeClient>(
      name,
      surviving.map((socket) => ({ socket, channel: socket.channel })),
      {
        frames: async (message, live) => {
          await crossing();
          this.calls.push({ to: 'core', kind: 'frames' });
          await this.links.receive(name, message, live);
        },
      },
      () => undefined,
    );
    this.gateways.set(name, gateway);
    return gateway;
  }

  async connect(gatewayName: string, packet: Extract<MqttPacket, { cmd: 'connect' }>): Promise<FakeClient> {
    const gateway = this.gateway(gatewayName);
    const client = new FakeClient(this, gateway, (packet.protocolVersion ?? 4) as ProtocolLevel);
    client.channel = gateway.open(client, '10.1.1.1:5000');
    await client.write(packet);
    return client;
  }

  /** The core is evicted and wakes: memory gone, its gateway links rebuilt from their rows and probed (or its gateways reset, as the object does). */
  async restartCore(): Promise<void> {
    this.deliveriesLost = false;
    this.links = this.makeLinks();
    const restored = this.links.restore();
    this.harness.restart(restored.connections);
    await this.links.probeRestored(restored.linkIds);
    await this.settle();
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 4; i++) await settleMicrotasks();
  }
}

/** A cross-object call takes at least a turn of the event loop. */
function crossing(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function connect(clientId: string, level: ProtocolLevel = 5, extra: Partial<Extract<MqttPacket, { cmd: 'connect' }>> = {}): Extract<MqttPacket, { cmd: 'connect' }> {
  return { cmd: 'connect', protocolId: level === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 60, ...extra };
}

async function setUp(): Promise<World> {
  harness = await CoreHarness.create();
  return new World(harness);
}

describe('a namespace over gateways', () => {
  it('routes across gateways with one call per destination gateway, not per subscriber', async () => {
    const world = await setUp();
    const subscribers = await Promise.all(Array.from({ length: 10 }, (_, i) => world.connect(i < 5 ? 'gw/b' : 'gw/c', connect(`sub-${i}`))));
    for (const sub of subscribers) await sub.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fan/#', qos: 1 }] });
    const publisher = await world.connect('gw/a', connect('pub'));
    const before = world.calls.length;
    await publisher.write({ cmd: 'publish', topic: 'fan/out', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId: 7 });
    for (const sub of subscribers) expect(sub.received('publish').map((p) => p.payload.toString())).toEqual(['x']);
    expect(publisher.received('puback')).toHaveLength(1);
    const calls = world.calls.slice(before);
    // One call in (the PUBLISH), one out to each gateway with subscribers, one back to the publisher's (its PUBACK).
    expect(calls.filter((c) => c.kind === 'deliver' && c.to === 'gw/b')).toHaveLength(1);
    expect(calls.filter((c) => c.kind === 'deliver' && c.to === 'gw/c')).toHaveLength(1);
    expect(calls.filter((c) => c.kind === 'deliver' && c.to === 'gw/a')).toHaveLength(1);
    expect(calls.filter((c) => c.kind === 'frames')).toHaveLength(1);
    // Every gateway's clients count as the namespace's.
    expect(world.harness.core.stats().connected).toBe(11);
    expect(world.links.views().map((v) => [v.name, v.connections])).toEqual([['gw/a', 1], ['gw/b', 5], ['gw/c', 5]]);
  });

  it('batches what a gateway gets while a call is on its way', async () => {
    const world = await setUp();
    const sub = await world.connect('gw/b', connect('sub'));
    await sub.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'burst', qos: 0 }] });
    const publisher = await world.connect('gw/a', connect('pub'));
    const before = world.calls.length;
    // 200 messages written at once: the gateway sends them in far fewer calls than messages.
    await Promise.all(Array.from({ length: 200 }, (_, i) => world.gateway('gw/a').received(publisher.channel, encodePacket({ cmd: 'publish', topic: 'burst', payload: Buffer.from(String(i)), qos: 0, retain: false, dup: false }, 5))));
    await world.settle();
    expect(sub.received('publish').map((p) => p.payload.toString())).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    const calls = world.calls.slice(before);
    expect(calls.filter((c) => c.kind === 'frames').length).toBeLessThanOrEqual(3);
    expect(calls.filter((c) => c.kind === 'deliver').length).toBeLessThanOrEqual(3);
  });

  it('takes a client id over across gateways: the old one gets DISCONNECT 0x8E and its session moves', async () => {
    const world = await setUp();
    const first = await world.connect('gw/a', connect('device', 5, { clean: false, properties: { sessionExpiryInterval: 300 } }));
    await first.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmd/device', qos: 1 }] });
    const second = await world.connect('gw/b', connect('device', 5, { clean: false, properties: { sessionExpiryInterval: 300 } }));
    expect(first.received('disconnect')[0]?.reasonCode).toBe(0x8e);
    expect(first.closedWith).toBeDefined();
    expect(second.received('connack')[0]?.sessionPresent).toBe(true);
    const publisher = await world.connect('gw/c', connect('pub'));
    await publisher.write({ cmd: 'publish', topic: 'cmd/device', payload: Buffer.from('on'), qos: 1, retain: false, dup: false, messageId: 1 });
    expect(second.received('publish').map((p) => p.payload.toString())).toEqual(['on']);
    expect(first.received('publish')).toHaveLength(0);
  });

  it('queues for a persistent session and delivers it through another gateway', async () => {
    const world = await setUp();
    const session = { clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await world.connect('gw/a', connect('sensor', 5, session));
    await first.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alerts/#', qos: 1 }] });
    await first.write({ cmd: 'disconnect', reasonCode: 0 });
    const publisher = await world.connect('gw/b', connect('pub'));
    for (let i = 0; i < 3; i++) await publisher.write({ cmd: 'publish', topic: 'alerts/x', payload: Buffer.from(`m${i}`), qos: 1, retain: false, dup: false, messageId: i + 1 });
    expect(publisher.received('puback')).toHaveLength(3);
    const again = await world.connect('gw/c', connect('sensor', 5, session));
    expect(again.received('connack')[0]?.sessionPresent).toBe(true);
    expect(again.received('publish').map((p) => p.payload.toString())).toEqual(['m0', 'm1', 'm2']);
  });

  it('ends the clients of a restarted gateway as lost: their wills are published', async () => {
    const world = await setUp();
    const watcher = await world.connect('gw/b', connect('watcher'));
    await watcher.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 1 }] });
    await world.connect('gw/a', connect('dying', 5, { will: { topic: 'wills/dying', payload: Buffer.from('gone'), qos: 1, retain: false } }));
    // gw/a restarts: its sockets are gone. Its next call (a new client) tells the core which channels it still has: none.
    world.startGateway('gw/a', []);
    await world.connect('gw/a', connect('newcomer'));
    expect(watcher.received('publish').map((p) => p.topic)).toEqual(['wills/dying']);
    expect(world.harness.core.stats().connected).toBe(2);
  });

  it('after a restart of the core, asks each gateway which clients it still has', async () => {
    const world = await setUp();
    const watcher = await world.connect('gw/b', connect('watcher'));
    await watcher.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 1 }] });
    const dying = await world.connect('gw/a', connect('dying', 5, { will: { topic: 'wills/dying', payload: Buffer.from('gone'), qos: 1, retain: false } }));
    // Quiet for a while (nothing on its way to a gateway), then the whole runtime restarts: gw/a's socket is
    // gone with it, gw/b's watcher reconnected (same socket here).
    await world.harness.advance(QuietMs);
    world.startGateway('gw/a', []);
    world.startGateway('gw/b', [watcher]);
    await world.restartCore();
    expect(world.calls.filter((c) => c.kind === 'probe').map((c) => c.to).sort()).toEqual(['gw/a', 'gw/b']);
    expect(watcher.received('publish').map((p) => p.topic)).toEqual(['wills/dying']);
    expect(world.harness.core.stats().connected).toBe(1);
    expect(dying.received('publish')).toHaveLength(0);
  });

  it('tells a gateway to close a client the core does not know', async () => {
    const world = await setUp();
    const client = await world.connect('gw/a', connect('known'));
    // The core lost this channel (say its link ended): the next packet gets the client closed, not ignored.
    await world.links.receive('gw/a', encodeLinkFrames([{ type: 'close', channel: client.channel, code: BridgeCloseCode.DeviceLost }]), undefined);
    await world.settle();
    await client.write({ cmd: 'pingreq' });
    expect(client.closedWith?.code).toBe(1011);
  });

  it('closes the clients of a gateway whose core cannot be reached, so they reconnect', async () => {
    const world = await setUp();
    const client = await world.connect('gw/a', connect('c1'));
    let lost = 0;
    const broken = new Gateway<FakeClient>('gw/x', [{ socket: client, channel: client.channel }], { frames: () => Promise.reject(new Error('unreachable')) }, () => void lost++);
    await broken.received(client.channel, encodePacket({ cmd: 'pingreq' }, 5));
    expect(lost).toBe(1);
    expect(client.closedWith?.code).toBe(1013);
    expect(broken.connections).toBe(0);
  });

  it('after a restart that may have lost what it was sending, hands the gateways\' clients back to reconnect: nobody waits for ever', async () => {
    const world = await setUp();
    const session = { clean: false, properties: { sessionExpiryInterval: 300 } };
    const subscriber = await world.connect('gw/b', connect('sub', 5, session));
    await subscriber.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'data', qos: 1 }] });
    const publisher = await world.connect('gw/a', connect('pub', 5, session));
    // The core handles the PUBLISH, and dies before its PUBACK (and the delivery) reach the gateways.
    world.deliveriesLost = true;
    await publisher.write({ cmd: 'publish', topic: 'data', payload: Buffer.from('m1'), qos: 1, retain: false, dup: false, messageId: 1 });
    expect(publisher.received('puback')).toHaveLength(0);
    await world.restartCore();
    // Both were closed to reconnect (a wake that lost nothing would have kept them: see below), each by its channel.
    expect(publisher.closedWith?.code).toBe(1013);
    expect(subscriber.closedWith?.code).toBe(1013);
    expect(world.harness.logs.some((record) => record.event === 'connection.closed')).toBe(true);
    // A client that comes to the same gateway now is not touched: the CLOSEs named the old channels only.
    const newcomer = await world.connect('gw/a', connect('newcomer'));
    await world.settle();
    expect(newcomer.closedWith).toBeUndefined();
    expect(newcomer.received('connack')).toHaveLength(1);
    // They come back as MQTT.js does: the publisher resends with DUP; the subscriber's session has the message.
    const subscriberAgain = await world.connect('gw/b', connect('sub', 5, session));
    expect(subscriberAgain.received('connack')[0]?.sessionPresent).toBe(true);
    const publisherAgain = await world.connect('gw/a', connect('pub', 5, session));
    await publisherAgain.write({ cmd: 'publish', topic: 'data', payload: Buffer.from('m1'), qos: 1, retain: false, dup: true, messageId: 1 });
    expect(publisherAgain.received('puback')).toHaveLength(1);
    expect(subscriberAgain.received('publish').map((p) => p.payload.toString())).toContain('m1');
  });

  it('keeps the gateways\' clients through a wake that lost nothing, and writes no mark for a steady trickle', async () => {
    const world = await setUp();
    const client = await world.connect('gw/a', connect('quiet'));
    for (let i = 0; i < 3; i++) {
      await client.write({ cmd: 'pingreq' });
      await world.harness.advance(QuietMs / 4);
    }
    expect(client.received('pingresp')).toHaveLength(3);
    // Output stopped, and stayed quiet: the mark is gone, as when the object may hibernate.
    await world.harness.advance(QuietMs);
    await world.restartCore();
    expect(client.closedWith).toBeUndefined();
    expect(world.calls.filter((c) => c.kind === 'reset')).toHaveLength(0);
    expect(world.harness.logs.filter((record) => record.event === 'connection.closed')).toHaveLength(0);
    await client.write({ cmd: 'pingreq' });
    expect(client.received('pingresp')).toHaveLength(4);
  });

  it('gives a client of a gateway its share: one that floods waits in its own queue, and past its bound the core ends it with DISCONNECT 0x96', async () => {
    const world = await setUp();
    const witness = await world.connect('gw/a', connect('witness'));
    await witness.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'w', qos: 1 }] });
    const flooder = await world.connect('gw/a', connect('flooder'));
    const gateway = world.gateway('gw/a');
    const pings = new Uint8Array(2000).fill(0xc0).map((byte, i) => (i % 2 === 0 ? byte : 0));
    // 2 MB of PINGREQs at once (each message a thousand): far past the window the core gave it, and past its bound.
    for (let i = 0; i < 1000; i++) void gateway.received(flooder.channel, pings);
    // The witness, written after all of it, is not behind it.
    await witness.write({ cmd: 'publish', topic: 'w', payload: Buffer.from('through'), qos: 1, retain: false, dup: false, messageId: 2 });
    await world.settle();
    expect(witness.received('puback')).toHaveLength(1);
    expect(witness.received('publish').map((p) => p.payload.toString())).toEqual(['through']);
    // The flooder got answers for what it sent within its share, then MQTT's word for why it goes.
    expect(flooder.received('pingresp').length).toBeGreaterThan(0);
    expect(flooder.received('disconnect')).toEqual([expect.objectContaining({ reasonCode: ReasonCode.MessageRateTooHigh })]);
    expect(flooder.closedWith?.code).toBe(1002);
    expect(witness.closedWith).toBeUndefined();
  });
});
