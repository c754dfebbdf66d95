/**
 * Test doubles for the sidecar tests: a fake edge (a `ws` server that records
 * what arrives and answers CONNECT, per device WebSocket or per channel of
 * the sidecar's link), a raw TCP device that writes and reads bytes, and a
 * sidecar started on 127.0.0.1:0 with its log lines captured.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { PacketDecoder, decodeAll } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { MaxPacketSizeLimit, type MqttPacket, type ProtocolLevel } from '../../shared/codec/types.ts';
import { CreditSinceVersion, LinkCreditChannel, LinkProtocolVersion, decodeLinkFrames, encodeLinkFrames, linkSubprotocolOf, type LinkFrame } from '../../shared/link-protocol.ts';
import { loadSidecarConfig, type SidecarConfig } from '../../sidecar/config.ts';
import { createLogger } from '../../sidecar/log.ts';
import { startSidecar, type Sidecar } from '../../sidecar/server.ts';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` until it holds (for effects that have no event of their own). */
export async function waitUntil(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

// ── Fake edge ─────────────────────────────────────────────────────────────

/** One device as the fake edge sees it: its own WebSocket, or a channel of the sidecar's link. */
export interface EdgeConnection {
  kind: 'websocket' | 'link';
  /** The device's WebSocket, or the link's (shared by all its devices). */
  ws: WebSocket;
  /** The link channel's number. */
  channel?: number;
  /** Headers of the upgrade (of the link, for a channel). */
  headers: IncomingHttpHeaders;
  /** The device address the sidecar forwarded (header, or the link's OPEN). */
  address: string | undefined;
  /** Request path of the upgrade (selects the namespace at the real edge). */
  path: string;
  protocol: string;
  /** Every message as received (each holds one or more whole packets). */
  messages: Buffer[];
  /** Packets decoded from the messages (when the fake edge decodes). */
  packets: MqttPacket[];
  bytesReceived: number;
  /** SHA-256 of every byte received, in order (hex). */
  digest(): string;
  level: ProtocolLevel | undefined;
  closed: Promise<{ code: number; reason: string }>;
  send(packet: MqttPacket): void;
  sendBytes(bytes: Uint8Array): void;
  /** Closes the device's end from the edge (a WebSocket close, or a CLOSE frame). */
  close(code: number, reason?: string): void;
}

/** A sidecar link as the fake edge sees it. */
export interface EdgeLinkConnection {
  ws: WebSocket;
  headers: IncomingHttpHeaders;
  /** The sidecar's name from its HELLO. */
  name: string | undefined;
  /** Messages as received. */
  messages: Buffer[];
  /** Every frame of them, in order. */
  frames: LinkFrame[];
  closed: Promise<{ code: number; reason: string }>;
  /** Writes link frames as one message. */
  sendFrames(frames: LinkFrame[]): void;
  /** DATA bytes received per channel (0: the link's total), for tests that return credit themselves. */
  dataBytes: Map<number, number>;
}

export interface FakeEdgeOptions {
  /**
   * Answer for each CONNECT: a CONNACK to send, or undefined for none.
   * By default: success at the CONNECT's level.
   */
  connack?: (level: ProtocolLevel) => MqttPacket | undefined;
  /** Decode packets (off for bulk-byte tests). Default true. */
  decode?: boolean;
  /** Refuse the upgrade with this HTTP status. */
  rejectStatus?: number;
  /** Path of the URL handed out (default /mqtt). */
  path?: string;
  /** The link protocol version this edge speaks (default the newest): an older edge is 1. */
  linkVersion?: number;
  /** From version 3: the windows granted after HELLO (default 4 MiB for the link, 256 KiB per channel). */
  windows?: { link: number; channel: number };
  /** From version 3: return credit for DATA as soon as it arrives (default), or never (the test grants it). */
  returnCredit?: boolean;
}

export interface FakeEdge {
  url: string;
  port: number;
  /** Devices, in the order they arrived. */
  connections: EdgeConnection[];
  /** Sidecar links, in the order they arrived. */
  links: EdgeLinkConnection[];
  /** Resolves with the n-th (1-based) connection once it exists. */
  connection(n: number): Promise<EdgeConnection>;
  close(): Promise<void>;
}

export async function startFakeEdge(options: FakeEdgeOptions = {}): Promise<FakeEdge> {
  const connack = options.connack ?? ((): MqttPacket => ({ cmd: 'connack', sessionPresent: false, reasonCode: 0, returnCode: 0 }));
  const linkVersion = options.linkVersion ?? LinkProtocolVersion;
  const linkSubprotocol = linkSubprotocolOf(linkVersion);
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.has(linkSubprotocol) ? linkSubprotocol : protocols.has('mqtt') ? 'mqtt' : false),
    verifyClient:
      options.rejectStatus === undefined ? undefined : (_info, done) => done(false, options.rejectStatus, 'refused by the fake edge'),
  });
  await once(wss, 'listening');
  const connections: EdgeConnection[] = [];
  const links: EdgeLinkConnection[] = [];

  /** What a device's end does with the bytes it gets: record, decode, answer CONNECT. */
  const receiver = (connection: EdgeConnection): ((data: Buffer) => void) => {
    const decoder = new PacketDecoder({ maxPacketSize: MaxPacketSizeLimit });
    const hash = createHash('sha256');
    connection.digest = () => hash.copy().digest('hex');
    return (data) => {
      connection.bytesReceived += data.length;
      hash.update(data);
      if (options.decode === false) return;
      connection.messages.push(data);
      const { packets } = decoder.push(data);
      for (const packet of packets) {
        connection.packets.push(packet);
        if (packet.cmd === 'connect') {
          connection.level = decoder.protocolLevel;
          const reply = connack(connection.level ?? 4);
          if (reply !== undefined) connection.send(reply);
        }
      }
    };
  };

  const deviceFields = { path: '', messages: [], packets: [], bytesReceived: 0, digest: () => '', level: undefined };

  wss.on('connection', (ws, request) => {
    if (ws.protocol === linkSubprotocol) {
      acceptLink(ws, request.headers, request.url ?? '');
      return;
    }
    const connection: EdgeConnection = {
      ...deviceFields,
      messages: [],
      packets: [],
      kind: 'websocket',
      ws,
      headers: request.headers,
      address: request.headers['x-mqtt-client-address'] as string | undefined,
      path: request.url ?? '',
      protocol: ws.protocol,
      closed: new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
      send(packet) {
        ws.send(encodePacket(packet, connection.level ?? 4));
      },
      sendBytes(bytes) {
        ws.send(bytes);
      },
      close(code, reason) {
        ws.close(code, reason);
      },
    };
    connections.push(connection);
    ws.on('message', receiver(connection));
  });

  /** A sidecar's link: each OPEN becomes a device connection, fed by its DATA frames. */
  const acceptLink = (ws: WebSocket, headers: IncomingHttpHeaders, path: string): void => {
    let resolveLinkClosed: (value: { code: number; reason: string }) => void = () => {};
    const link: EdgeLinkConnection = {
      ws,
      headers,
      name: undefined,
      messages: [],
      frames: [],
      closed: new Promise((resolve) => {
        resolveLinkClosed = resolve;
      }),
      sendFrames: (frames) => ws.send(encodeLinkFrames(frames)),
      dataBytes: new Map(),
    };
    links.push(link);
    const credited = linkVersion >= CreditSinceVersion;
    const channels = new Map<number, { connection: EdgeConnection; receive: (data: Buffer) => void; ended: (code: number, reason: string) => void }>();
    ws.on('message', (data: Buffer) => {
      link.messages.push(data);
      const grants = new Map<number, number>();
      for (const frame of decodeLinkFrames(data)) {
        link.frames.push(frame);
        if (frame.type === 'data') {
          for (const channel of [frame.channel, LinkCreditChannel]) {
            grants.set(channel, (grants.get(channel) ?? 0) + frame.bytes.byteLength);
            link.dataBytes.set(channel, (link.dataBytes.get(channel) ?? 0) + frame.bytes.byteLength);
          }
        }
        switch (frame.type) {
          case 'hello':
            link.name = frame.name;
            link.sendFrames([
              { type: 'hello', version: linkVersion, name: 'fake-edge' },
              ...(credited ? [{ type: 'window' as const, ...(options.windows ?? { link: 4 * 1024 * 1024, channel: 256 * 1024 }) }] : []),
            ]);
            break;
          case 'open': {
            let ended: (code: number, reason: string) => void = () => {};
            const channel = frame.channel;
            const connection: EdgeConnection = {
              ...deviceFields,
              messages: [],
              packets: [],
              kind: 'link',
              ws,
              channel,
              headers,
              address: frame.address,
              path,
              protocol: linkSubprotocol,
              closed: new Promise((resolve) => {
                ended = (code, reason) => resolve({ code, reason });
              }),
              send(packet) {
                link.sendFrames([{ type: 'data', channel, bytes: encodePacket(packet, connection.level ?? 4) }]);
              },
              sendBytes(bytes) {
                link.sendFrames([{ type: 'data', channel, bytes }]);
              },
              close(code, reason) {
                if (!channels.delete(channel)) return;
                link.sendFrames([{ type: 'close', channel, code, ...(reason === undefined ? {} : { reason }) }]);
                ended(code, reason ?? '');
              },
            };
            channels.set(channel, { connection, receive: receiver(connection), ended: (code, reason) => ended(code, reason) });
            connections.push(connection);
            break;
          }
          case 'data':
            channels.get(frame.channel)?.receive(Buffer.from(frame.bytes));
            break;
          case 'close': {
            const channel = channels.get(frame.channel);
            if (channel === undefined) break;
            channels.delete(frame.channel);
            // Answered, as the edge does: the sidecar frees the channel on the answer.
            link.sendFrames([{ type: 'close', channel: frame.channel, code: frame.code }]);
            channel.ended(frame.code, frame.reason ?? '');
            break;
          }
          case 'fanout':
            throw new Error('FANOUT from the sidecar');
        }
      }
      // What arrived is "processed" at once: its credit goes back.
      if (credited && options.returnCredit !== false && grants.size > 0 && ws.readyState === ws.OPEN) {
        link.sendFrames([{ type: 'credit', grants: [...grants].map(([channel, bytes]) => ({ channel, bytes })) }]);
      }
    });
    ws.on('close', (code, reason) => {
      for (const channel of channels.values()) channel.ended(1006, 'link closed');
      channels.clear();
      resolveLinkClosed({ code, reason: reason.toString() });
    });
  };

  const port = (wss.address() as net.AddressInfo).port;
  const edge: FakeEdge = {
    url: `ws://127.0.0.1:${port}${options.path ?? '/mqtt'}`,
    port,
    connections,
    links,
    async connection(n) {
      await waitUntil(() => connections.length >= n, `edge connection #${n}`);
      return connections[n - 1] as EdgeConnection;
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  started.push(() => edge.close());
  return edge;
}

/** Closers of the fake edges and sidecars tests started, newest last. */
const started: Array<() => Promise<void>> = [];

/** Closes what the test started, newest first (sidecars before their edge): `afterEach(closeStarted)`. */
export async function closeStarted(): Promise<void> {
  for (const close of started.splice(0).reverse()) await close();
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ── Raw device ────────────────────────────────────────────────────────────

export interface RawDevice {
  socket: net.Socket;
  /** Everything the sidecar sent so far. */
  received(): Buffer;
  /** Decodes what was received as server-to-client packets of `level`. */
  packets(level: ProtocolLevel): MqttPacket[];
  write(bytes: Uint8Array): void;
  send(packet: MqttPacket, level: ProtocolLevel): void;
  /** Resolves when the sidecar closed the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
}

export async function connectDevice(port: number, options: { read?: boolean } = {}): Promise<RawDevice> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let closedFlag = false;
  if (options.read !== false) socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closedFlag = true;
      resolve();
    }),
  );
  return {
    socket,
    received: () => Buffer.concat(chunks),
    packets: (level) => decodeAll(Buffer.concat(chunks), level).packets,
    write: (bytes) => void socket.write(bytes),
    send: (packet, level) => void socket.write(encodePacket(packet, level)),
    closed,
    isClosed: () => closedFlag,
  };
}

export function connectPacket(level: ProtocolLevel, overrides: Partial<Extract<MqttPacket, { cmd: 'connect' }>> = {}): MqttPacket {
  return {
    cmd: 'connect',
    protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: level,
    clientId: 'device-1',
    clean: true,
    keepalive: 60,
    ...overrides,
  };
}

// ── Sidecar ───────────────────────────────────────────────────────────────

export interface TestSidecar {
  sidecar: Sidecar;
  config: SidecarConfig;
  /** Parsed JSON log lines. */
  logs: Array<Record<string, unknown>>;
  events(name: string): Array<Record<string, unknown>>;
}

/** Starts a sidecar on 127.0.0.1:0 pointing at `edgeUrl`; `env` adds MQTT_* settings. */
export async function startTestSidecar(edgeUrl: string, env: Record<string, string> = {}): Promise<TestSidecar> {
  const config = loadSidecarConfig({
    MQTT_TCP_HOST: '127.0.0.1',
    MQTT_TCP_PORT: '0',
    MQTT_EDGE_URL: edgeUrl,
    MQTT_LOG_LEVEL: 'debug',
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    format: 'json',
    level: 'debug',
    write: (line) => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
      if (process.env['SIDECAR_TEST_LOGS'] === '1') process.stderr.write(`${line}\n`);
    },
  });
  const sidecar = await startSidecar(config, { logger });
  started.push(() => sidecar.close());
  return { sidecar, config, logs, events: (name) => logs.filter((line) => line['event'] === name) };
}
