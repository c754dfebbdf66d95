/**
 * Client actions for the model test, as fast-check commands: each updates
 * the reference model with what MQTT says must follow, makes the broker do
 * it, and lets the world check every invariant. fast-check generates random
 * sequences of them, shrinks a failing one to a minimal one, and replays it
 * from its seed and path.
 */
import fc from 'fast-check';
import type { MqttPacket, QoS } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { SessionNeverExpires, type ReferenceModel, type SessionModel, type Subscription } from './model.ts';
import type { AckPolicy } from './peer.ts';
import type { World } from './world.ts';

export const ClientIds = ['c0', 'c1', 'c2', 'c3'] as const;
export const Topics = ['T/a', 'T/b', 'U/a'] as const;
export const Filters = ['T/#', 'T/+', 'T/a', '+/a', '#', 'W/#', '$share/g/T/#', '$share/g/+/a'] as const;
/** Keep-alive of clients that may time out; a long pause is far past 1.5 times it. */
const KeepAliveSeconds = 20;
const FiniteExpirySeconds = 600;
const TickMs = 1000;
const LongPauseMs = 2 * 3600 * 1000;

type Command = fc.AsyncCommand<ReferenceModel, World, false>;

let packetIds = 0;
function nextPacketId(): number {
  packetIds = (packetIds % 0xffff) + 1;
  return packetIds;
}

function connectedSession(model: ReferenceModel, clientId: string): SessionModel | undefined {
  const session = model.sessions.get(clientId);
  return session?.connected === true ? session : undefined;
}

interface ConnectOptions {
  clientId: string;
  level: 3 | 4 | 5;
  clean: boolean;
  /** 5.0 only. */
  expiry: number;
  /** 5.0 only; undefined sends none (65,535). */
  receiveMaximum: number | undefined;
  ackPolicy: AckPolicy;
  keepAlive: number;
  will: { qos: QoS; retain: boolean } | undefined;
}

class ConnectCommand implements Command {
  constructor(private readonly o: ConnectOptions) {}

  check(): boolean {
    return true;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const { clientId, level, clean } = this.o;
    const peer = world.peer(clientId);
    const now = world.driver.now();
    // A connected client id: the new connection takes over [MQTT-3.1.4-3]. The old one's will goes out unless
    // the new connection goes on with its 5.0 session (Session Expiry above 0, Clean Start 0) [MQTT-3.1.3-9];
    // a 3.x will belongs to its network connection [MQTT-3.1.2-8] (docs/conformance-decisions.md).
    const previous = peer.isConnected ? peer.connection : undefined;
    const previousLevel = peer.level;
    const previousPackets: MqttPacket[] = [];
    if (previous !== undefined) {
      previous.onPacket = (packet) => void previousPackets.push(packet);
      const old = model.sessions.get(clientId);
      const continues = !clean && old?.level === 5 && old.expiry > 0;
      model.connectionEnded(clientId, now, !continues);
    }
    let session = model.sessions.get(clientId);
    if (clean && session !== undefined) {
      // [MQTT-3.1.2-4] clean start discards the session.
      model.sessions.delete(clientId);
      session = undefined;
    }
    const sessionPresent = session !== undefined;
    const expiry = level === 5 ? this.o.expiry : clean ? 0 : SessionNeverExpires;
    const willKey = model.newKey('w');
    const will = this.o.will === undefined ? undefined : { key: willKey, topic: `W/${clientId}`, ...this.o.will };
    if (session === undefined) {
      session = {
        clientId,
        level,
        expiry,
        keepAlive: this.o.keepAlive,
        connected: true,
        subscriptions: new Map(),
        shareFilters: new Set(),
        owed: new Map(),
        expected0: new Set(),
        optional0: new Set(),
        delivered: new Set(),
        qos2Due: new Map(),
        qos2Got: new Map(),
        streams: new Map(),
        replays: new Map(),
      };
      model.sessions.set(clientId, session);
    } else {
      Object.assign(session, { level, expiry, keepAlive: this.o.keepAlive, connected: true });
      delete session.disconnectedAt;
    }
    if (will === undefined) delete session.will;
    else session.will = will;

    const maxInflight = world.settings.maxInflight;
    const receiveMaximum = level === 5 ? Math.min(this.o.receiveMaximum ?? 0xffff, maxInflight * 10) : maxInflight;
    const connect: Extract<MqttPacket, { cmd: 'connect' }> = {
      cmd: 'connect',
      protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: level,
      clientId,
      clean,
      keepalive: this.o.keepAlive,
    };
    if (level === 5) {
      connect.properties = { sessionExpiryInterval: this.o.expiry };
      if (this.o.receiveMaximum !== undefined) connect.properties.receiveMaximum = this.o.receiveMaximum;
    }
    if (will !== undefined) connect.will = { topic: will.topic, payload: Buffer.from(will.key), qos: will.qos, retain: will.retain };
    peer.attach(world.driver.open(), connect, this.o.ackPolicy, receiveMaximum, sessionPresent);
    await world.settle(this.toString());

    const connack = peer.connack;
    const code = connack?.reasonCode ?? connack?.returnCode;
    const problems: string[] = [];
    if (connack === undefined || code !== 0) problems.push(`${clientId}: CONNECT not accepted (code ${String(code)})`);
    // 3.1 has no Session Present flag: 0 whatever the session.
    else if (connack.sessionPresent !== (level !== 3 && sessionPresent)) problems.push(`${clientId}: session present ${String(connack.sessionPresent)}, the model says ${String(sessionPresent)}`);
    if (previous !== undefined) {
      if (previous.isOpen) problems.push(`${clientId}: the taken-over connection is still open`);
      const disconnect = previousPackets.find((packet) => packet.cmd === 'disconnect');
      if (previousLevel === 5 && disconnect?.reasonCode !== ReasonCode.SessionTakenOver) problems.push(`${clientId}: the old 5.0 connection got no DISCONNECT 0x8E`);
    }
    if (problems.length > 0) throw new Error(`after ${this.toString()}:\n  ${problems.join('\n  ')}\nsteps:\n  ${world.trace.join('\n  ')}`);
  }

  toString(): string {
    const o = this.o;
    const parts = [`v${o.level}`, o.clean ? 'clean' : 'resume', `ack=${o.ackPolicy}`, `ka=${o.keepAlive}`];
    if (o.level === 5) parts.push(`expiry=${o.expiry === SessionNeverExpires ? 'never' : o.expiry}`, `rm=${o.receiveMaximum ?? '-'}`);
    if (o.will !== undefined) parts.push(`will=q${o.will.qos}${o.will.retain ? 'r' : ''}`);
    return `connect(${o.clientId} ${parts.join(' ')})`;
  }
}

class SubscribeCommand implements Command {
  constructor(
    private readonly clientId: string,
    private readonly filter: string,
    private readonly qos: QoS,
  ) {}

  check(model: ReferenceModel): boolean {
    return connectedSession(model, this.clientId) !== undefined;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const session = connectedSession(model, this.clientId) as SessionModel;
    const peer = world.peer(this.clientId);
    const shared = /^\$share\/([^/]+)\/(.+)$/.exec(this.filter);
    const subscription: Subscription = shared === null ? { qos: this.qos, match: this.filter } : { qos: this.qos, group: shared[1] as string, match: shared[2] as string };
    session.subscriptions.set(this.filter, subscription);
    if (subscription.group !== undefined) session.shareFilters.add(this.filter);
    // [MQTT-3.3.1-9] Retain Handling 0: matching retained messages on every SUBSCRIBE; none for shared ones.
    else model.expectRetained(session, this.filter, subscription);
    const messageId = nextPacketId();
    peer.queue({ cmd: 'subscribe', messageId, subscriptions: [{ topic: this.filter, qos: this.qos }] });
    await world.settle(this.toString());
    const suback = peer.packets.find((packet) => packet.cmd === 'suback' && packet.messageId === messageId);
    if (suback?.cmd !== 'suback' || suback.granted[0] !== this.qos) throw new Error(`${this.toString()}: SUBACK ${JSON.stringify(suback)}`);
  }

  toString(): string {
    return `subscribe(${this.clientId} ${this.filter} q${this.qos})`;
  }
}

class UnsubscribeCommand implements Command {
  constructor(
    private readonly clientId: string,
    private readonly filter: string,
  ) {}

  check(model: ReferenceModel): boolean {
    return connectedSession(model, this.clientId) !== undefined;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const session = connectedSession(model, this.clientId) as SessionModel;
    // Messages already started stay owed: UNSUBSCRIBE stops new ones [MQTT-3.10.4-3], and retained ones not yet sent.
    session.subscriptions.delete(this.filter);
    model.endReplay(session, this.filter);
    world.peer(this.clientId).queue({ cmd: 'unsubscribe', messageId: nextPacketId(), unsubscriptions: [this.filter] });
    await world.settle(this.toString());
  }

  toString(): string {
    return `unsubscribe(${this.clientId} ${this.filter})`;
  }
}

class PublishCommand implements Command {
  constructor(
    private readonly clientId: string,
    private readonly topic: string,
    private readonly qos: QoS,
    private readonly retain: boolean,
  ) {}

  check(model: ReferenceModel): boolean {
    return connectedSession(model, this.clientId) !== undefined;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const key = model.newKey();
    model.route({ key, publisher: this.clientId, topic: this.topic, qos: this.qos, retain: this.retain });
    const peer = world.peer(this.clientId);
    peer.publish(this.topic, key, this.qos, this.retain);
    await world.settle(`${this.toString()} = ${key}`);
    if (peer.isPublishing) throw new Error(`${this.toString()}: the broker did not complete the QoS ${this.qos} flow`);
  }

  toString(): string {
    return `publish(${this.clientId} ${this.topic} q${this.qos}${this.retain ? ' retain' : ''})`;
  }
}

class ClearRetainedCommand implements Command {
  constructor(
    private readonly clientId: string,
    private readonly topic: string,
  ) {}

  check(model: ReferenceModel): boolean {
    return connectedSession(model, this.clientId) !== undefined;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    // [MQTT-3.3.1-10] an empty retained payload removes the retained message.
    model.clearRetained(this.topic);
    world.peer(this.clientId).publish(this.topic, '', 0, true);
    await world.settle(this.toString());
  }

  toString(): string {
    return `clear-retained(${this.clientId} ${this.topic})`;
  }
}

class AckCommand implements Command {
  constructor(private readonly clientId: string) {}

  check(model: ReferenceModel): boolean {
    return connectedSession(model, this.clientId) !== undefined;
  }

  async run(_model: ReferenceModel, world: World): Promise<void> {
    world.peer(this.clientId).releaseHeld();
    await world.settle(this.toString());
  }

  toString(): string {
    return `ack-held(${this.clientId})`;
  }
}

class DropCommand implements Command {
  constructor(private readonly clientId: string) {}

  check(model: ReferenceModel): boolean {
    return connectedSession(model, this.clientId) !== undefined;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const peer = world.peer(this.clientId);
    model.connectionEnded(this.clientId, world.driver.now(), true);
    peer.connection?.drop();
    peer.detach();
    await world.settle(this.toString());
  }

  toString(): string {
    return `drop(${this.clientId})`;
  }
}

class DisconnectCommand implements Command {
  constructor(private readonly clientId: string) {}

  check(model: ReferenceModel): boolean {
    return connectedSession(model, this.clientId) !== undefined;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const peer = world.peer(this.clientId);
    // A clean DISCONNECT: no will [MQTT-3.14.4-3].
    model.connectionEnded(this.clientId, world.driver.now(), false);
    peer.queue({ cmd: 'disconnect' });
    peer.flush();
    await world.driver.quiesce([peer]);
    peer.detach();
    await world.settle(this.toString());
  }

  toString(): string {
    return `disconnect(${this.clientId})`;
  }
}

/** A second passes; every connected client pings, as its keep-alive requires. */
class TickCommand implements Command {
  check(): boolean {
    return true;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const advance = world.driver.advance;
    if (advance === undefined) return;
    await advance.call(world.driver, TickMs);
    for (const session of model.sessions.values()) if (session.connected) world.peer(session.clientId).queue({ cmd: 'pingreq' });
    await world.settle(this.toString());
  }

  toString(): string {
    return 'tick(1 s)';
  }
}

/**
 * Two silent hours: every client with a keep-alive times out (its will goes
 * out), and every offline session with a finite expiry ends.
 */
class LongPauseCommand implements Command {
  check(): boolean {
    return true;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const advance = world.driver.advance;
    if (advance === undefined) return;
    const start = world.driver.now();
    const timingOut = [...model.sessions.values()].filter((s) => s.connected && s.keepAlive > 0).map((s) => s.clientId);
    const closing = new Set(timingOut);
    // The wills of clients timing out in the same instant reach each other or not: QoS 0 may be lost.
    for (const clientId of timingOut) {
      const session = model.sessions.get(clientId) as SessionModel;
      model.publishWill(session, closing);
      delete session.will;
    }
    const levels = new Map(timingOut.map((clientId) => [clientId, world.peer(clientId).level]));
    const closedPackets = new Map<string, MqttPacket[]>();
    for (const clientId of timingOut) {
      const packets: MqttPacket[] = [];
      closedPackets.set(clientId, packets);
      const connection = world.peer(clientId).connection;
      const previous = connection?.onPacket;
      if (connection !== undefined) connection.onPacket = (packet) => (packets.push(packet), previous?.(packet));
    }
    await advance.call(world.driver, LongPauseMs);
    for (const clientId of timingOut) {
      const peer = world.peer(clientId);
      const problems: string[] = [];
      if (peer.connection?.isOpen === true) problems.push(`${clientId}: still connected after keep-alive ${KeepAliveSeconds} s of silence`);
      if (levels.get(clientId) === 5 && !closedPackets.get(clientId)?.some((p) => p.cmd === 'disconnect' && p.reasonCode === ReasonCode.KeepAliveTimeout)) {
        problems.push(`${clientId}: no DISCONNECT 0x8D at the keep-alive timeout`);
      }
      if (problems.length > 0) throw new Error(`after ${this.toString()}:\n  ${problems.join('\n  ')}\nsteps:\n  ${world.trace.join('\n  ')}`);
      peer.detach();
      model.connectionEnded(clientId, start + KeepAliveSeconds * 1500, false);
    }
    model.expireSessions(world.driver.now());
    await world.settle(this.toString());
  }

  toString(): string {
    return 'pause(2 h)';
  }
}

/** The namespace hibernates (memory lost) and wakes: nothing a client sees may change. */
class RestartCommand implements Command {
  check(): boolean {
    return true;
  }

  async run(model: ReferenceModel, world: World): Promise<void> {
    const restart = world.driver.restart;
    if (restart === undefined) return;
    await restart.call(world.driver);
    // Waiting to hibernate took a few seconds: the clients ping, as their keep-alive requires.
    for (const session of model.sessions.values()) if (session.connected) world.peer(session.clientId).queue({ cmd: 'pingreq' });
    await world.settle(this.toString());
  }

  toString(): string {
    return 'hibernate';
  }
}

export interface CommandOptions {
  /** Time can be moved and the namespace evicted (in-process); not on a live runtime. */
  controlsTime: boolean;
}

/** Random client actions, weighted towards publishing. */
export function commandArbitraries(options: CommandOptions): Array<fc.Arbitrary<Command>> {
  const clientId = fc.constantFrom(...ClientIds);
  const qos = fc.constantFrom<QoS>(0, 1, 2);
  const connect = fc
    .record({
      clientId,
      level: fc.constantFrom<3 | 4 | 5>(3, 4, 5, 5),
      clean: fc.boolean(),
      expiry: fc.constantFrom(0, FiniteExpirySeconds, SessionNeverExpires),
      receiveMaximum: fc.constantFrom<number | undefined>(1, 2, 3, undefined),
      ackPolicy: fc.constantFrom<AckPolicy>('prompt', 'prompt', 'late', 'never'),
      keepAlive: fc.constantFrom(0, KeepAliveSeconds),
      will: fc.option(fc.record({ qos, retain: fc.boolean() }), { nil: undefined }),
    })
    .map((o) => new ConnectCommand(o));
  const arbitraries: Array<fc.Arbitrary<Command>> = [
    connect,
    connect,
    fc.tuple(clientId, fc.constantFrom(...Filters), qos).map(([c, f, q]) => new SubscribeCommand(c, f, q)),
    fc.tuple(clientId, fc.constantFrom(...Filters), qos).map(([c, f, q]) => new SubscribeCommand(c, f, q)),
    fc.tuple(clientId, fc.constantFrom(...Filters)).map(([c, f]) => new UnsubscribeCommand(c, f)),
    fc.tuple(clientId, fc.constantFrom(...Topics), qos, fc.boolean()).map(([c, t, q, r]) => new PublishCommand(c, t, q, r)),
    fc.tuple(clientId, fc.constantFrom(...Topics), qos, fc.boolean()).map(([c, t, q, r]) => new PublishCommand(c, t, q, r)),
    fc.tuple(clientId, fc.constantFrom(...Topics), qos, fc.boolean()).map(([c, t, q, r]) => new PublishCommand(c, t, q, r)),
    fc.tuple(clientId, fc.constantFrom(...Topics)).map(([c, t]) => new ClearRetainedCommand(c, t)),
    clientId.map((c) => new AckCommand(c)),
    clientId.map((c) => new DropCommand(c)),
    clientId.map((c) => new DisconnectCommand(c)),
  ];
  if (options.controlsTime) {
    arbitraries.push(fc.constant(new TickCommand()), fc.constant(new LongPauseCommand()), fc.constant(new RestartCommand()));
  }
  return arbitraries;
}
