/**
 * The namespace core in-process: the same `BrokerCore` the Durable Object
 * runs, with SQLite from sql.js, a clock the test moves, alarms fired in
 * time order, and connections that are plain objects recording the packets
 * the core sends them. A protocol behaviour becomes a test of milliseconds.
 *
 * What it keeps of the Durable Object's semantics: one alarm per object
 * (the earliest requested; a stored alarm survives a restart, the adapter's
 * memory of it does not); connection state survives a restart only through
 * what the core persisted (the WebSocket attachment); storage is SQLite.
 * Output is flushed at the end of each event, as with no deferred flush.
 */
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import type { CloseCause, CloseKind } from '../../edge/core/close-cause.ts';
import type { AccessPolicy } from '../../edge/core/access.ts';
import type { AnyUserHooks } from '../../edge/core/hooks.ts';
import { defaultLimits, type BrokerLimits } from '../../edge/core/limits.ts';
import type { ConnectionState, Transport } from '../../edge/core/link.ts';
import type { LogFields, LogLevel, Logger } from '../../edge/core/log.ts';
import { Namespace, type NamespaceDeps } from '../../edge/core/namespace.ts';
import type { RulesConfig } from '../../edge/rules/config.ts';
import { openTestDatabase, type TestDatabase } from './sql.ts';

export interface HarnessOptions {
  limits?: Partial<BrokerLimits>;
  hooks?: AnyUserHooks;
  /** The namespace's access rules (an ACL); none: everything allowed. */
  access?: AccessPolicy;
  namespace?: string;
  /** The clock's start (ms since the epoch). */
  startAt?: number;
  /** MQTT_RULES, and what their targets reach (a fake fetch, say). */
  rules?: RulesConfig;
  ruleServices?: NamespaceDeps['ruleServices'];
  /**
   * Lets the core pause between turns of its work, as the Durable Object
   * does with a zero-delay timer (here: until Node's next event-loop turn),
   * and defer its output to the end of the event as the object does; else
   * the core does everything an event allows at once.
   */
  turns?: boolean;
}

export interface LogRecord {
  level: LogLevel;
  event: string;
  fields: LogFields;
}

export class CoreHarness {
  core!: Namespace;
  now: number;
  readonly logs: LogRecord[] = [];
  readonly limits: BrokerLimits;
  /** Connections the core has not closed, by id. */
  readonly connections = new Map<string, HarnessConnection>();
  /** The object's alarm, as stored (it survives restarts). */
  private storedAlarm: number | undefined;
  /** What the adapter remembers of the alarm it set; forgotten on restart, as after a wake. */
  private knownAlarm: number | undefined;
  /** In-memory timers (setTimeout), due times on the test's clock; they die with the object. */
  private timers: Array<{ at: number; callback: () => void }> = [];
  private idCounter = 0;

  private constructor(
    private readonly db: TestDatabase,
    private readonly options: HarnessOptions,
  ) {
    this.now = options.startAt ?? Date.UTC(2026, 0, 1);
    this.limits = { ...defaultLimits, ...options.limits };
  }

  static async create(options: HarnessOptions = {}): Promise<CoreHarness> {
    const harness = new CoreHarness(await openTestDatabase(), options);
    harness.start([]);
    return harness;
  }

  private start(connections: Array<{ state: ConnectionState; transport: Transport }>): void {
    const logger: Logger = { log: (level, event, fields = {}) => void this.logs.push({ level, event, fields }) };
    this.core = new Namespace({
      namespace: this.options.namespace ?? 'default',
      sql: this.db,
      limits: this.limits,
      log: logger,
      hooks: this.options.hooks ?? {},
      hookTimeoutMs: 5000,
      now: () => this.now,
      requestAlarm: (at) => this.requestAlarm(at),
      setTimer: (ms, callback) => this.setTimer(ms, callback),
      ...(this.options.turns === true
        ? { yieldToOthers: () => new Promise<void>((resolve) => setImmediate(resolve)), deferFlush: (flush: () => void) => void setImmediate(flush) }
        : {}),
      newId: () => `id-${++this.idCounter}`,
      ...(this.options.access === undefined ? {} : { access: this.options.access }),
      ...(this.options.rules === undefined ? {} : { rules: this.options.rules }),
      ...(this.options.ruleServices === undefined ? {} : { ruleServices: this.options.ruleServices }),
    });
    this.core.restore(connections);
  }

  /** The alarm the object would fire next, if any. */
  get nextAlarm(): number | undefined {
    return this.storedAlarm;
  }

  private requestAlarm(at: number): void {
    if (this.knownAlarm !== undefined && this.knownAlarm <= at) return;
    this.knownAlarm = at;
    this.storedAlarm = at;
  }

  /** A new WebSocket reached the object. */
  open(meta: { remoteAddress?: string; bridged?: boolean } = {}): HarnessConnection {
    const connection = new HarnessConnection(this);
    const state = this.core.accept(connection.transport, { bridged: meta.bridged ?? false, remoteAddress: meta.remoteAddress ?? '127.0.0.1' });
    connection.bind(state.id);
    this.connections.set(state.id, connection);
    return connection;
  }

  /** An in-memory timer of the object (setTimeout), for parts the host owns beside the core; it dies with the object. */
  setTimer(ms: number, callback: () => void): void {
    this.timers.push({ at: this.now + ms, callback });
  }

  /** Whether an in-memory timer is pending (the object cannot hibernate). */
  get hasTimers(): boolean {
    return this.timers.length > 0;
  }

  /** In-memory timers pending (the runtime caps them: 10,000 per isolate on workerd). */
  get timerCount(): number {
    return this.timers.length;
  }

  /** Moves the clock, firing each timer and alarm that falls due on the way, in time order. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const timer = this.timers.reduce<{ at: number; callback: () => void } | undefined>((first, t) => (first === undefined || t.at < first.at ? t : first), undefined);
      const alarm = this.storedAlarm;
      if (timer !== undefined && timer.at <= until && (alarm === undefined || timer.at <= alarm)) {
        this.now = Math.max(this.now, timer.at);
        this.timers.splice(this.timers.indexOf(timer), 1);
        timer.callback();
      } else if (alarm !== undefined && alarm <= until) {
        this.now = Math.max(this.now, alarm);
        this.storedAlarm = undefined;
        this.knownAlarm = undefined;
        this.core.alarm();
      } else {
        break;
      }
      await settleMicrotasks();
    }
    this.now = until;
  }

  /**
   * The object hibernates and wakes again. The runtime hibernates an object
   * only with no timer pending, so time first runs until the timers have
   * fired. Then memory is gone; storage, the stored alarm and each open
   * connection's last persisted attachment remain, and a new core is built
   * from them. Returns how far the clock moved.
   */
  async hibernate(): Promise<number> {
    const start = this.now;
    while (this.timers.length > 0) await this.advance(Math.max(0, Math.max(...this.timers.map((t) => t.at)) - this.now));
    this.restart();
    return this.now - start;
  }

  /**
   * The object is evicted with whatever it had in memory lost (as
   * hibernation, but not waiting for timers). `others` are connections the
   * host restores besides the harness's own (a sidecar link's devices).
   */
  restart(others: Array<{ state: ConnectionState; transport: Transport }> = []): void {
    this.timers = [];
    this.knownAlarm = undefined;
    const survivors = [...this.connections.values()].map((connection) => ({ state: structuredClone(connection.attachment as ConnectionState), transport: connection.transport }));
    this.start([...survivors, ...others]);
  }

  /** The object's SQLite storage, for parts the host owns beside the core (a link's device rows). */
  get sql(): TestDatabase {
    return this.db;
  }

  /** Frees the database (sql.js memory is not collected otherwise). */
  close(): void {
    this.db.close();
  }

  forget(id: string): void {
    this.connections.delete(id);
  }

  nextId(): number {
    return ++this.idCounter;
  }
}

/** Lets promise chains started by an event (hooks, chained packets) run to their end. */
export async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One client connection as the core sees it, and the packets it got back. */
export class HarnessConnection {
  id = '';
  /** The state the core last persisted (the WebSocket attachment). */
  attachment: ConnectionState | undefined;
  /** Every packet the core sent, decoded at the connection's level. */
  readonly packets: MqttPacket[] = [];
  /** The size of each transport message the core sent (one flush each). */
  readonly sends: number[] = [];
  /** Set once the core closed the connection. */
  closedWith: { kind: CloseKind; reason: string } | undefined;
  /** Set when the test closed it (the client went away). */
  dropped = false;
  level: ProtocolLevel = 4;
  onPacket: ((packet: MqttPacket) => void) | undefined;
  private decoder: PacketDecoder | undefined;
  readonly transport: Transport;

  constructor(private readonly harness: CoreHarness) {
    this.transport = {
      send: (bytes) => this.deliver(bytes),
      close: (kind, reason) => {
        this.closedWith ??= { kind, reason };
        this.harness.forget(this.id);
      },
      persist: (state) => {
        this.attachment = structuredClone(state);
      },
    };
  }

  bind(id: string): void {
    this.id = id;
  }

  get isOpen(): boolean {
    return this.closedWith === undefined && !this.dropped;
  }

  /** Sends one packet, encoded at this connection's level (a CONNECT sets the level). */
  async send(packet: MqttPacket): Promise<void> {
    if (packet.cmd === 'connect') this.level = (packet.protocolVersion ?? 4) as ProtocolLevel;
    await this.sendBytes(encodePacket(packet, this.level));
  }

  async sendBytes(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) return;
    await this.harness.core.receive(this.id, bytes);
    await settleMicrotasks();
  }

  /** The client goes away without DISCONNECT (the socket closes). */
  async drop(cause: CloseCause = 'network-error'): Promise<void> {
    if (!this.isOpen) return;
    this.dropped = true;
    this.harness.forget(this.id);
    await this.harness.core.closed(this.id, cause);
    await settleMicrotasks();
  }

  /** Packets of one kind received so far. */
  received<C extends MqttPacket['cmd']>(cmd: C): Array<Extract<MqttPacket, { cmd: C }>> {
    return this.packets.filter((packet): packet is Extract<MqttPacket, { cmd: C }> => packet.cmd === cmd);
  }

  private deliver(bytes: Uint8Array): void {
    if (this.closedWith !== undefined) throw new Error('send on a closed connection');
    this.sends.push(bytes.byteLength);
    this.decoder ??= new PacketDecoder({ maxPacketSize: 256 * 1024 * 1024, protocolLevel: this.level });
    const { packets, error } = this.decoder.push(bytes);
    if (error !== undefined) throw new Error(`the core sent bytes that do not decode: ${error.message}`);
    for (const packet of packets) {
      this.packets.push(packet);
      this.onPacket?.(packet);
    }
  }
}
