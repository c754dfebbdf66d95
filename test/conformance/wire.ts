/**
 * Packet-level conformance: raw bytes written to a real connection and the
 * bytes that come back, through the whole stack. One edge on workerd with a
 * sidecar linked to it; a case runs over TCP through the sidecar and over
 * WebSocket to the edge, at each protocol level it applies to, and checks
 * each packet the server sends (its bytes or its decoded fields) and whether
 * the server closes the connection. Nothing sleeps: every expectation waits
 * for its effect (a packet, a close) up to a timeout.
 *
 * Tests are named after the statement ids they check (`[MQTT-3.1.2-24] …`):
 * the conformance matrix refers to them by file and name.
 *
 * Where mosquitto's answer is the specification's, a case opts in
 * (`mosquitto`) and its script also runs, unchanged, against Debian's
 * mosquitto 2.0.11 over a raw TCP connection (`… against mosquitto`): the
 * same bytes in, and the case's own assertions as the expected reply.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, expect } from 'vitest';
import WebSocket from 'ws';
import { PacketFramer } from '../../shared/codec/framer.ts';
import { MaxPacketSizeLimit, type ProtocolLevel } from '../../shared/codec/types.ts';
import { connectionEndsLogged, startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { hasMosquitto, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { VersionOf as LevelName, WireTargets, WireTransports, type WireTarget, type WireTransport } from '../helpers/protocol-versions.ts';
import { eventually } from '../helpers/mqtt-clients.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

export { WireTransports, type WireTransport } from '../helpers/protocol-versions.ts';

/** How long an expected packet or close may take; a failure says what did arrive. */
const ExpectTimeoutMs = 5_000;

/** Bytes from hex, spaces allowed: `hex('20 02 00 00')`. */
export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** A packet as a client of `level` would write it (mqtt-packet's encoder: it writes what ours never would, e.g. a 3.1 CONNECT). */
export function encode(packet: mqttPacket.Packet, level: ProtocolLevel): Uint8Array {
  return mqttPacket.generate(packet, { protocolVersion: level });
}

/** One packet the server sent: its exact bytes and mqtt-packet's reading of them. */
export interface Received {
  bytes: Uint8Array;
  packet: mqttPacket.Packet;
}

export interface WirePeer {
  readonly transport: WireTransport;
  readonly level: ProtocolLevel;
  send(bytes: Uint8Array | mqttPacket.Packet): void;
  /** Sends a CONNECT at the peer's level (connectOf) and returns the CONNACK, whatever it says. */
  connect(clientId: string, extra?: Partial<mqttPacket.IConnectPacket>): Promise<Received>;
  /** The next packet the server sends (waits for it). */
  next(what?: string): Promise<Received>;
  /** The next packet, which must be `cmd` with these fields (a partial match), or these exact bytes (hex). */
  expect(expected: string | ({ cmd: string } & Record<string, unknown>)): Promise<Received>;
  /** The server closes the connection, sending nothing more before it. */
  expectClose(): Promise<void>;
  /** The server closes the connection; what it sent before (unread) is returned. */
  closedAfter(): Promise<Received[]>;
  /** The server sends this one packet (a partial match), then closes the connection. */
  expectOnlyThenClose(expected: { cmd: string } & Record<string, unknown>): Promise<void>;
  /** Sends a QoS 1 PUBLISH and waits for its PUBACK: the connection is open and the server has handled what came before. */
  roundTrip(): Promise<void>;
  isOpen(): boolean;
  close(): void;
}

/** The broker a case runs against (ours or mosquitto): how to open more connections to it and see one end. */
export interface WireStack {
  /** Opens a raw connection over `transport` (mosquitto: always its TCP listener). */
  open(transport: WireTransport, level: ProtocolLevel): Promise<WirePeer>;
  /**
   * Waits until the broker has logged the end of `count` connections of
   * `clientId` (its will routed by then): MQTT acknowledges no close, so the
   * broker's log is the only sign of it.
   */
  ended(clientId: string, count?: number): Promise<void>;
}

/** The edge, a sidecar linked to it, both reaching one namespace; and a mosquitto to compare with, started when first asked for. */
export interface EdgeWireStack extends WireStack {
  edge: TestEdge;
  sidecar: TestSidecar;
  /** Debian's mosquitto on a free port of 127.0.0.1, anonymous clients allowed: one per stack (test file), stopped with it. */
  mosquitto(): Promise<WireStack>;
  dispose(): Promise<void>;
}

const BridgeSecret = 'conformance-bridge-secret';
/** Both transports reach the same namespace, so a case may mix them (a TCP client watching a WebSocket one). */
const Namespace = 'conformance';

/** `scriptPath`: another Worker than the default bundle (e.g. HOOKS_BUNDLE, with an authenticate hook). */
export async function startWireStack(vars: Record<string, string> = {}, worker: { scriptPath?: string } = {}): Promise<EdgeWireStack> {
  const edge = await startTestEdge({ MQTT_BRIDGE_SECRET: BridgeSecret, MQTT_MAX_PACKET_RATE: '0', ...vars }, worker.scriptPath === undefined ? {} : { scriptPath: worker.scriptPath });
  const sidecar = await startTestSidecar(`${edge.mqttUrl}/${Namespace}`, { MQTT_BRIDGE_SECRET: BridgeSecret, MQTT_LOG_LEVEL: 'warn' });
  let mosquitto: Promise<Mosquitto> | undefined;
  return {
    edge,
    sidecar,
    ended: (clientId, count = 1) => eventually(() => connectionEndsLogged(edge, Namespace, clientId) >= count, ExpectTimeoutMs, `${count} end(s) of ${clientId} in the edge's log`),
    open: (transport, level) => openWirePeer(transport === 'tcp' ? { tcpPort: sidecar.sidecar.tcpPort } : { url: `${edge.mqttUrl}/${Namespace}` }, transport, level, transport),
    async mosquitto() {
      mosquitto ??= startMosquitto();
      return mosquittoStack(await mosquitto);
    },
    async dispose() {
      // A mosquitto that failed to start failed its tests already.
      await mosquitto?.then((broker) => broker.dispose(), () => undefined);
      await sidecar.sidecar.close();
      await edge.dispose();
    },
  };
}

/**
 * The lines mosquitto 2.0.11 logs (`log_type all`) as a connection of a
 * client ends, whatever the reason: its DISCONNECT, its close, a protocol
 * error, a takeover. Its will, if any, is queued by the time it logs them.
 */
function mosquittoEndsOf(log: string, clientId: string): number {
  const id = clientId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ends = new RegExp(`Client ${id} (?:disconnected|closed its connection|already connected, closing old connection|has exceeded timeout)|(?:Socket error|Bad socket read/write) on client ${id}[,:]`, 'g');
  return log.match(ends)?.length ?? 0;
}

function mosquittoStack(mosquitto: Mosquitto): WireStack {
  return {
    open: (_transport, level) => openWirePeer({ tcpPort: mosquitto.port }, 'tcp', level, 'mosquitto'),
    ended: (clientId, count = 1) => eventually(() => mosquittoEndsOf(mosquitto.log(), clientId) >= count, ExpectTimeoutMs, `${count} end(s) of ${clientId} in mosquitto's log`),
  };
}

/** Starts a stack for the test file (beforeAll) and stops it after (afterAll); the getter is for tests to call. */
export function useWireStack(vars: Record<string, string> = {}, worker: { scriptPath?: string } = {}): () => EdgeWireStack {
  let stack: EdgeWireStack | undefined;
  beforeAll(async () => {
    stack = await startWireStack(vars, worker);
  });
  afterAll(async () => {
    await stack?.dispose();
  });
  return () => {
    if (stack === undefined) throw new Error('the wire stack is not started');
    return stack;
  };
}

/** `label` names the connection in failures: its transport, or the other broker it reaches. */
async function openWirePeer(where: { tcpPort: number } | { url: string }, transport: WireTransport, level: ProtocolLevel, label: string): Promise<WirePeer> {
  const framer = new PacketFramer({ maxPacketSize: MaxPacketSizeLimit });
  const unread: Received[] = [];
  const all: string[] = [];
  let open = true;
  let streamError: string | undefined;
  let wake: (() => void) | undefined;
  const changed = (): void => {
    const waiter = wake;
    wake = undefined;
    waiter?.();
  };
  const take = (chunk: Uint8Array): void => {
    const { frames, error } = framer.push(new Uint8Array(chunk));
    for (const frame of frames) {
      const packet = parseServerPacket(frame.bytes, level);
      unread.push({ bytes: frame.bytes, packet });
      all.push(`${packet.cmd} ${toHex(frame.bytes)}`);
    }
    if (error !== undefined) streamError = error.message;
    changed();
  };
  const ended = (): void => {
    open = false;
    changed();
  };
  let write: (bytes: Uint8Array) => void;
  let close: () => void;
  if ('tcpPort' in where) {
    const socket = net.connect({ host: '127.0.0.1', port: where.tcpPort });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('data', take);
    socket.on('error', () => undefined);
    socket.on('close', ended);
    write = (bytes) => void socket.write(bytes);
    close = () => socket.destroy();
  } else {
    const ws = new WebSocket(where.url, 'mqtt');
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.on('message', (data: Buffer) => take(data));
    ws.on('error', () => undefined);
    // The close frame is the server's close; the TCP close may linger after it.
    ws.on('close', ended);
    const poll = setInterval(() => {
      if (ws.readyState === ws.OPEN) return;
      clearInterval(poll);
      ended();
    }, 10);
    write = (bytes) => ws.send(bytes);
    close = () => {
      clearInterval(poll);
      ws.terminate();
    };
  }

  /** Waits until `ready()` holds, or fails with what arrived. */
  const until = async (ready: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + ExpectTimeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${label} ${LevelName[level]}: no ${what} within ${ExpectTimeoutMs} ms; received: [${all.join(', ')}], ${open ? 'still open' : 'closed'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };

  const next = async (what = 'packet'): Promise<Received> => {
    await until(() => unread.length > 0 || !open || streamError !== undefined, what);
    if (streamError !== undefined) throw new Error(`${label}: the server's bytes do not frame: ${streamError}`);
    const received = unread.shift();
    if (received === undefined) throw new Error(`${label} ${LevelName[level]}: closed while waiting for ${what}; received: [${all.join(', ')}]`);
    return received;
  };

  let packetId = 0x4000;
  const peer: WirePeer = {
    transport,
    level,
    send: (bytes) => write(bytes instanceof Uint8Array ? bytes : encode(bytes, level)),
    next,
    connect(clientId, extra = {}) {
      peer.send(connectOf(level, clientId, extra));
      return next('CONNACK');
    },
    async expect(expected) {
      if (typeof expected === 'string') {
        const received = await next(`packet ${expected}`);
        expect(toHex(received.bytes), `${label} ${LevelName[level]}: the packet's bytes`).toBe(toHex(hex(expected)));
        return received;
      }
      const received = await next(expected.cmd.toUpperCase());
      expect(received.packet, `${label} ${LevelName[level]}: ${toHex(received.bytes)}`).toMatchObject(expected);
      return received;
    },
    async expectClose() {
      const before = await peer.closedAfter();
      expect(
        before.map((received) => `${received.packet.cmd} ${toHex(received.bytes)}`),
        `${label} ${LevelName[level]}: sent before closing`,
      ).toEqual([]);
    },
    async closedAfter() {
      await until(() => !open, 'close');
      return unread.splice(0);
    },
    async expectOnlyThenClose(expected) {
      const before = await peer.closedAfter();
      expect(
        before.map(({ packet }) => packet),
        `${label} ${LevelName[level]}: sent before closing`,
      ).toEqual([expect.objectContaining(expected)]);
    },
    async roundTrip() {
      const messageId = ++packetId;
      peer.send({ cmd: 'publish', topic: `conformance/round-trip/${messageId}`, payload: Buffer.alloc(0), qos: 1, messageId, retain: false, dup: false });
      await peer.expect({ cmd: 'puback', messageId });
    },
    isOpen: () => open,
    close,
  };
  return peer;
}

/** Reads a server packet as a client of `level`; a packet mqtt-packet cannot read fails the test with its bytes. */
function parseServerPacket(bytes: Uint8Array, level: ProtocolLevel): mqttPacket.Packet {
  const parser = mqttPacket.parser({ protocolVersion: level });
  let packet: mqttPacket.Packet | undefined;
  let failure: Error | undefined;
  parser.on('packet', (parsed) => (packet = parsed));
  parser.on('error', (error) => (failure = error));
  parser.parse(Buffer.from(bytes));
  if (packet === undefined) throw new Error(`the server sent a packet a ${LevelName[level]} client cannot read: ${toHex(bytes)} (${failure?.message ?? 'incomplete'})`);
  return packet;
}

/** A CONNECT for a raw peer: clean, no keep-alive, at `level` (3.1 with its own protocol name). */
export function connectOf(level: ProtocolLevel, clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}): mqttPacket.IConnectPacket {
  return { cmd: 'connect', protocolId: level === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0, ...extra };
}

/** Opens a peer and connects it, expecting CONNACK 0. */
export async function connected(stack: WireStack, transport: WireTransport, level: ProtocolLevel, clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}): Promise<WirePeer> {
  const peer = await stack.open(transport, level);
  peer.send(connectOf(level, clientId, extra));
  await peer.expect(level === 5 ? { cmd: 'connack', reasonCode: 0 } : { cmd: 'connack', returnCode: 0 });
  return peer;
}

/**
 * One row of a conformance table: its name (the statement ids it checks in
 * brackets, then what it checks), the levels it applies to, and its script
 * against one peer.
 */
export interface WireCase {
  /** `[MQTT-3.1.2-24] a CONNACK …`: written out in the test file, so the conformance matrix can find it. */
  name: string;
  levels: readonly ProtocolLevel[];
  /**
   * Also run against mosquitto, at every level (`true`) or at these: where
   * its answer is the specification's and the script assumes nothing of
   * this broker's configuration. Not where we differ on purpose
   * (docs/conformance-decisions.md, test/differential/differences.ts).
   */
  mosquitto?: true | readonly ProtocolLevel[];
  /**
   * Runs against a fresh peer; `clientId` is unique to the case, level and
   * transport (client ids, topics); `stack` is the broker the peer reaches,
   * for more connections to it.
   */
  run(peer: WirePeer, clientId: string, stack: WireStack): Promise<void>;
}

/** One test of a case: at one level, over one transport to this broker or against mosquitto. */
export interface WireTest {
  name: string;
  version: string;
  /** `over tcp`, `over ws` or `against mosquitto`: the end of the test's title. */
  target: WireTarget;
  run(): Promise<void>;
}

/** Numbers the cases of a test file (its stack's), so that no two share a client id. */
let nextCase = 0;

/**
 * One test per case, level and transport, and per level the case runs
 * against mosquitto at, for the test file to register as
 * `it(\`${test.name}, MQTT ${test.version} ${test.target}\`, test.run)`:
 * the title stays in the file, where the conformance matrix reads it.
 * Without mosquitto installed, its tests are left out.
 */
export function wireTests(stack: () => EdgeWireStack, cases: readonly WireCase[]): WireTest[] {
  return cases.flatMap((row) => {
    const index = nextCase++;
    const id = /^\[([^\]]+)\]/.exec(row.name)?.[1] ?? 'case';
    const clientIdOf = (level: ProtocolLevel, where: string): string => `${id}-${index}-${level}-${where}`.replace(/[^A-Za-z0-9-]/g, '-').toLowerCase();
    const test = (level: ProtocolLevel, target: WireTarget, broker: () => Promise<WireStack>, transport: WireTransport, where: string): WireTest => ({
      name: row.name,
      version: LevelName[level],
      target,
      async run() {
        const against = await broker();
        const peer = await against.open(transport, level);
        try {
          await row.run(peer, clientIdOf(level, where), against);
        } finally {
          peer.close();
        }
      },
    });
    const { mosquitto } = row;
    const mosquittoLevels = !hasMosquitto || mosquitto === undefined ? [] : mosquitto === true ? row.levels : row.levels.filter((level) => mosquitto.includes(level));
    return row.levels.flatMap((level) => [
      ...WireTransports.map((transport) => test(level, WireTargets[transport], async () => stack(), transport, transport)),
      ...(mosquittoLevels.includes(level) ? [test(level, WireTargets.mosquitto, () => stack().mosquitto(), 'tcp', 'mosquitto')] : []),
    ]);
  });
}
