/**
 * One device: its TCP (or TLS) socket on one side, its channel to the edge
 * on the other (a channel of the sidecar's shared link, or a WebSocket of
 * its own: see edge-channel.ts). The bridge moves whole packets and holds
 * no MQTT session or topic state; it only
 * - reads the CONNECT before dialling the edge (level, keep-alive, client id),
 * - enforces keep-alive and, when the edge trusts it (MQTT_BRIDGE_SECRET),
 *   answers PINGREQ itself, so idle devices never wake the edge,
 * - watches the edge's CONNACK (a 5.0 Server Keep Alive overrides the device's),
 * - applies backpressure both ways, so memory per device stays bounded: a
 *   device is not read while its packets wait for the edge (over the
 *   high-water mark, or without the link's credit), nor while what it is
 *   sent waits for it to read (so a device that sends PINGREQs and does not
 *   read the PINGRESPs stops itself); a device on the shared link that stops
 *   reading is dropped, not waited for,
 * - closes each side when the other closes, in the way the other side
 *   expects (see EdgeCloseCode).
 *
 * Phases: reading-connect → connecting-edge → open (→ draining on shutdown)
 * → closing; `closed` settles once both sockets are gone.
 */
import type { Socket } from 'node:net';
import { PacketDecoder } from '../shared/codec/decoder.ts';
import { PacketFramer, type Frame } from '../shared/codec/framer.ts';
import { isDeliberateClose } from '../shared/close-kinds.ts';
import { MaxPacketSizeLimit, PacketType, type ProtocolLevel } from '../shared/codec/types.ts';
import { malformedPacket, type MqttError } from '../shared/errors.ts';
import { ReasonCode } from '../shared/reason-codes.ts';
import { readConnect, type ConnectOutcome } from './connect-reader.ts';
import { EdgeCloseCode, edgeCloseFor, type CloseCause } from './close-codes.ts';
import type { EdgeChannel, EdgeDialer } from './edge-channel.ts';
import { formatAddress, toEdgeMessage } from './edge-socket.ts';
import { KeepAliveMonitor } from './keep-alive.ts';
import { describeError, type Logger } from './log.ts';
import { connackCodeAt, connackReasonName, connectionFields, type ClientEvent, type ConnectionEvent, type ConnectionFacts } from '../shared/connection-log.ts';
import { DefaultLogEvents, type LogEventName } from '../shared/log-events.ts';
import { ClientEventLog } from './client-events.ts';
import { PINGRESP, connackRefusal, disconnectFor, refusalForInvalidConnect } from './replies.ts';

export interface BridgeSettings {
  /** Opens the device's channel to the edge. */
  dial: EdgeDialer;
  /** For logs. */
  edgeUrl: string;
  /** The namespace the edge URL selects, for logs (connection events name it, as the edge's do). */
  namespace: string;
  /**
   * Answer PINGREQ here and never forward it: the edge trusts a sidecar
   * with the bridge secret to enforce keep-alive, so idle devices cost it
   * nothing. Without the secret the edge must see the pings.
   */
  answerPings: boolean;
  maxPacketSize: number;
  connectTimeoutMs: number;
  /** Bytes queued toward the edge above which the device stops being read; reading resumes at half. */
  highWaterBytes: number;
  /** Longest a closing connection may spend flushing its last bytes to the device. */
  closeLingerMs: number;
  /** MQTT_LOG_EVENTS: what of the device's doings is logged (default: its connection). */
  logEvents?: ReadonlySet<LogEventName>;
}

type Phase = 'reading-connect' | 'connecting-edge' | 'open' | 'draining' | 'closing';

/**
 * Why the device is not being read: its packets wait for the edge (a full
 * buffer, or no credit), what it is sent waits for it to read, or it had
 * its share of this turn of the event loop.
 */
type ReadHold = 'edge-backlog' | 'device-backlog' | 'turn';

/**
 * Bytes of one device handled in one turn of the event loop before the
 * others get theirs. libuv reads a socket that always has data up to 32
 * times in a row (2 MiB): a million PINGREQs, 100 ms of work, before any
 * other device is read. A legitimate device rarely reads this much at once.
 */
const TurnBytes = 64 * 1024;

interface CloseOptions {
  /** Last bytes for the device (a CONNACK refusal or a DISCONNECT). */
  reply?: Uint8Array | undefined;
}

let nextConnectionNumber = 1;

export class ClientBridge {
  /** Settles once the device socket and the edge channel are both closed. */
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #settings: BridgeSettings;
  /** Over the connection limit: read the CONNECT only to refuse it. */
  readonly #refuse: boolean;
  readonly #address: string;
  readonly #startedAt = performance.now();
  readonly #framer: PacketFramer;
  readonly #keepAlive: KeepAliveMonitor;
  readonly #connectAbort = new AbortController();
  #resolveClosed: () => void = () => {};
  #log: Logger;
  readonly #connection = String(nextConnectionNumber++);
  /** From the CONNECT, for the connection events. */
  #clientId: string | undefined;
  #username: string | undefined;
  #clean: boolean | undefined;
  #phase: Phase = 'reading-connect';
  #cause: CloseCause | undefined;

  #level: ProtocolLevel = 4;
  /** 5.0: the largest packet the device takes (its CONNECT's Maximum Packet Size); 0 for no limit. */
  #maxPacketSize = 0;
  #keepAliveSeconds = 0;
  /** The CONNECT and whatever followed it, held while the edge channel opens. */
  #pendingFrames: Frame[] = [];
  #pendingError: MqttError | undefined;

  #edge: EdgeChannel | undefined;
  #edgeFailure: string | undefined;
  /** Frames the edge's messages until its CONNACK has gone by; then dropped. */
  #edgeFramer: PacketFramer | undefined;
  #connackForwarded = false;
  #connackAccepted = false;
  /** A PINGREQ came before the CONNACK; its PINGRESP must not overtake it. */
  #pingOwed = false;
  #disconnectForwarded = false;

  /** Why device reads are stopped now; read while there is none. */
  readonly #readHolds = new Set<ReadHold>();
  /** Bytes read from the device in this turn of the event loop. */
  #turnBytes = 0;
  /** Edge reads stopped because the device side is backed up. */
  #edgeReadPaused = false;
  #deviceClosed = false;
  #edgeClosed = true;
  #settled = false;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** After a forwarded DISCONNECT: how long to wait for the edge to close. */
  #disconnectTimer: NodeJS.Timeout | undefined;
  #drainTimer: NodeJS.Timeout | undefined;
  readonly #logEvents: ReadonlySet<LogEventName>;
  /** Decodes what MQTT_LOG_EVENTS asks about; undefined when it asks about nothing but connections. */
  readonly #clientEvents: ClientEventLog | undefined;

  constructor(socket: Socket, settings: BridgeSettings, log: Logger, options: { refuse: boolean }) {
    this.#socket = socket;
    this.#settings = settings;
    this.#refuse = options.refuse;
    this.#address = formatAddress(socket.remoteAddress, socket.remotePort);
    // The same field names as the connection events (shared/connection-log.ts), so every line of a device reads alike.
    this.#log = log.child({ connection: this.#connection, remote: this.#address, transport: 'tcp' });
    this.#framer = new PacketFramer({ maxPacketSize: settings.maxPacketSize, allowAuth: true });
    this.#keepAlive = new KeepAliveMonitor({ onExpired: () => this.#onKeepAliveExpired() });
    this.#logEvents = settings.logEvents ?? DefaultLogEvents;
    const clientEvents = new ClientEventLog(this.#logEvents, (event, facts) => this.#event('info', event, facts));
    this.#clientEvents = clientEvents.active ? clientEvents : undefined;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });

    socket.setNoDelay(true);
    socket.on('error', (error) => this.#log.debug('device.error', { error: describeError(error) }));
    socket.on('close', () => this.#onDeviceClosed());
    socket.on('drain', () => this.#onDeviceDrained());
  }

  /** PINGREQs this bridge answered itself. */
  pingsAnswered = 0;

  /** Why the connection ended (set once it is closing), and its traffic, for metrics. */
  get outcome(): { cause: CloseCause | undefined; bytesIn: number; bytesOut: number } {
    return { cause: this.#cause, bytesIn: this.#socket.bytesRead, bytesOut: this.#socket.bytesWritten };
  }

  /** Bytes held for this device on the way to the edge. */
  get bufferedToEdge(): number {
    let pending = 0;
    for (const frame of this.#pendingFrames) pending += frame.bytes.length;
    return pending + this.#framer.bufferedBytes + (this.#edge?.bufferedAmount ?? 0);
  }

  /** Bytes held for this device on the way to it. */
  get bufferedToDevice(): number {
    return this.#socket.writableLength + (this.#edge?.queuedForDevice ?? 0);
  }

  start(): void {
    this.#log.debug('device.accepted', { refuse: this.#refuse });
    void readConnect(this.#socket, {
      framer: this.#framer,
      maxPacketSize: this.#settings.maxPacketSize,
      timeoutMs: this.#settings.connectTimeoutMs,
      signal: this.#connectAbort.signal,
    }).then((outcome) => this.#onConnectOutcome(outcome));
  }

  /**
   * Ends this connection for a sidecar shutdown. An open session first lets
   * the edge close (frames already on their way still reach the device),
   * then a 5.0 device gets DISCONNECT 0x8B; after `drainMs` the edge is cut.
   */
  shutdown(drainMs: number): void {
    switch (this.#phase) {
      case 'reading-connect':
        this.#close('shutdown');
        return;
      case 'connecting-edge':
        this.#close('shutdown', { reply: connackRefusal(this.#level, ReasonCode.ServerUnavailable) });
        return;
      case 'open':
        break;
      default:
        return;
    }
    this.#phase = 'draining';
    this.#keepAlive.stop();
    // Nothing more from the device: the session it would go to is ending.
    this.#socket.pause();
    this.#edge?.close(EdgeCloseCode.GoingAway, 'sidecar shutting down');
    this.#drainTimer = setTimeout(() => this.#edge?.terminate(), drainMs);
  }

  /** Cuts both sides at once (end of the shutdown grace period). */
  destroy(): void {
    if (this.#phase !== 'closing') this.#close('shutdown');
    this.#socket.destroy();
    this.#edge?.terminate();
  }

  // ── Phase 1: the device's CONNECT ─────────────────────────────────────

  #onConnectOutcome(outcome: ConnectOutcome): void {
    if (this.#phase !== 'reading-connect') return;
    switch (outcome.kind) {
      case 'aborted':
        return;
      case 'timeout':
        this.#event('info', 'connection.refused', { reason: 'connect-timeout', error: `no CONNECT within ${this.#settings.connectTimeoutMs} ms (${outcome.bufferedBytes} bytes buffered)` });
        this.#close('connect-timeout');
        return;
      case 'invalid':
        this.#event('warn', 'connection.protocol-error', { reason: connackReasonName(5, outcome.error.reasonCode), code: outcome.error.reasonCode, error: outcome.error.message });
        this.#close('malformed-packet', { reply: refusalForInvalidConnect(outcome.error) });
        return;
      case 'connect':
        break;
    }
    const { packet, level, frames } = outcome;
    this.#level = level;
    this.#maxPacketSize = level === 5 ? (packet.properties?.maximumPacketSize ?? 0) : 0;
    this.#keepAliveSeconds = packet.keepalive ?? 0;
    this.#clientId = packet.clientId;
    this.#username = packet.username;
    this.#clean = packet.clean;
    this.#log = this.#log.child({ client: packet.clientId, protocol: level, username: packet.username });
    if (this.#refuse) {
      this.#event('warn', 'connection.refused', { reason: 'max-connections', code: connackCodeAt(level, ReasonCode.QuotaExceeded) });
      this.#close('over-limit', { reply: connackRefusal(level, ReasonCode.QuotaExceeded) });
      return;
    }
    this.#pendingFrames = frames;
    this.#pendingError = outcome.error;
    this.#connectToEdge();
  }

  // ── Phase 2: the channel to the edge ──────────────────────────────────

  #connectToEdge(): void {
    this.#phase = 'connecting-edge';
    this.#edgeClosed = false;
    this.#edge = this.#settings.dial(this.#address, {
      onOpen: () => this.#onEdgeOpen(),
      onMessage: (bytes) => this.#onEdgeMessage(bytes),
      onProtocolError: (reason) => this.#onEdgeProtocolError(reason),
      onError: (error) => this.#onEdgeError(error),
      onClose: (code, reason) => this.#onEdgeClosed(code, reason),
      onOverflow: (queuedBytes) => this.#onDeviceTooSlow(queuedBytes),
    });
  }

  #onEdgeOpen(): void {
    if (this.#phase !== 'connecting-edge') return;
    this.#phase = 'open';
    this.#edgeFramer = new PacketFramer({ maxPacketSize: MaxPacketSizeLimit, allowAuth: this.#level === 5 });
    this.#keepAlive.start(this.#keepAliveSeconds);
    this.#socket.on('data', (chunk: Buffer) => this.#onDeviceData(chunk));

    const frames = this.#pendingFrames;
    const error = this.#pendingError;
    this.#pendingFrames = [];
    this.#pendingError = undefined;
    this.#forwardFrames(frames);
    if (error !== undefined) this.#onDeviceProtocolError(error);
    if (this.#phase === 'open' && this.#readHolds.size === 0) this.#socket.resume();
  }

  #onEdgeError(error: Error): void {
    const text = describeError(error);
    if (this.#phase === 'connecting-edge') {
      // 'close' always follows; it reports the failure once, with this reason.
      this.#edgeFailure = text;
      return;
    }
    // Aborting the upgrade ourselves (the device left first) is no news.
    if (this.#phase === 'closing') this.#log.debug('edge.error', { error: text });
    else this.#log.warn('edge.error', { error: text });
  }

  #onEdgeClosed(code: number, reason: string): void {
    this.#edgeClosed = true;
    clearTimeout(this.#drainTimer);
    switch (this.#phase) {
      case 'connecting-edge':
        this.#event('warn', 'connection.refused', {
          reason: 'edge-unavailable',
          code: connackCodeAt(this.#level, ReasonCode.ServerUnavailable),
          error: `${this.#settings.edgeUrl}: ${this.#edgeFailure ?? `closed with code ${code}`}`,
        });
        this.#close('edge-unavailable', { reply: connackRefusal(this.#level, ReasonCode.ServerUnavailable) });
        return;
      case 'open':
        if (!this.#connackForwarded && isDeliberateClose(code)) {
          // The edge ended the connection on purpose and sent what it had to: a CONNECT that does not
          // conform is closed without a CONNACK [MQTT-3.1.4-1] [MQTT-3.2.2-6], and a CONNACK larger
          // than the client's Maximum Packet Size is not sent [MQTT-3.1.2-24]. Nothing is made up here.
          this.#event('info', 'connection.refused', { reason: 'edge-closed', code, error: `the edge closed without a CONNACK (WebSocket ${code}${reason === '' ? '' : ` ${reason}`})` });
          this.#close('edge-closed');
          return;
        }
        if (!this.#connackForwarded) {
          // The device is still waiting for a CONNACK and the edge could not answer: tell it the broker is not available.
          this.#event('warn', 'connection.refused', {
            reason: 'edge-closed',
            code: connackCodeAt(this.#level, ReasonCode.ServerUnavailable),
            error: `the edge closed before its CONNACK (WebSocket ${code}${reason === '' ? '' : ` ${reason}`})`,
          });
          this.#close('edge-closed', { reply: connackRefusal(this.#level, ReasonCode.ServerUnavailable) });
          return;
        }
        this.#log.debug('edge.closed', { code, reason });
        if (code === 1006 && !this.#disconnectForwarded) {
          // Lost without a word from the edge (it went down, or the link did): a 5.0 device hears why.
          this.#close('edge-closed', { reply: disconnectFor(this.#level, this.#connackAccepted, ReasonCode.ServerUnavailable) });
          return;
        }
        this.#close(this.#disconnectForwarded ? 'device-disconnected' : 'edge-closed');
        return;
      case 'draining':
        this.#close('shutdown', { reply: this.#shutdownReply() });
        return;
      default:
        this.#settleIfDone();
    }
  }

  /** What a device gets when the sidecar shuts down under it. */
  #shutdownReply(): Uint8Array | undefined {
    if (!this.#connackForwarded) return connackRefusal(this.#level, ReasonCode.ServerUnavailable);
    return disconnectFor(this.#level, this.#connackAccepted, ReasonCode.ServerShuttingDown);
  }

  // ── Device → edge ─────────────────────────────────────────────────────

  #onDeviceData(chunk: Buffer): void {
    // While closing, bytes are read and dropped, only so the device's FIN is seen.
    // [MQTT-3.14.4-1] nothing a device sends after DISCONNECT counts.
    if (this.#phase !== 'open' || this.#disconnectForwarded) return;
    this.#takeTurn(chunk.length);
    const { frames, error } = this.#framer.push(chunk);
    if (frames.length > 0) this.#forwardFrames(frames);
    if (error !== undefined && this.#phase === 'open') this.#onDeviceProtocolError(error);
  }

  /** Forwards one read's worth of packets as one message (far cheaper at the edge). */
  #forwardFrames(frames: readonly Frame[]): void {
    if (frames.length === 0) return;
    this.#keepAlive.touch();
    const outgoing: Uint8Array[] = [];
    let pings = 0;
    let error: MqttError | undefined;
    for (const frame of frames) {
      if (frame.type === PacketType.PINGREQ) {
        if (frame.bytes.length !== 2) {
          error = malformedPacket('PINGREQ with a non-zero remaining length');
          break;
        }
        if (this.#settings.answerPings) {
          // Answered here and never forwarded: an idle device costs the edge nothing.
          // The edge trusts a bridge with the secret to enforce keep-alive itself.
          pings++;
          continue;
        }
        // Without the secret the edge enforces keep-alive and must see the pings.
        outgoing.push(frame.bytes);
        continue;
      }
      if (frame.type === PacketType.AUTH && this.#level !== 5) {
        error = malformedPacket('packet type 15 (AUTH) is reserved before MQTT 5');
        break;
      }
      outgoing.push(frame.bytes);
      this.#clientEvents?.fromDevice(frame, this.#level);
      if (frame.type === PacketType.DISCONNECT) {
        // [MQTT-3.14.4-1] the client sends nothing after DISCONNECT.
        this.#disconnectForwarded = true;
        break;
      }
    }
    if (outgoing.length > 0) this.#sendToEdge(outgoing);
    if (pings > 0) this.#answerPings(pings);
    if (error !== undefined) {
      this.#onDeviceProtocolError(error);
    } else if (this.#disconnectForwarded) {
      this.#log.debug('device.disconnect');
      // The edge may still answer (5.0: DISCONNECT 0x82 for a bad one) and then closes;
      // relay that, and close ourselves only if the edge does not within the linger time.
      this.#keepAlive.stop();
      this.#socket.pause();
      this.#disconnectTimer = setTimeout(() => this.#close('device-disconnected'), this.#settings.closeLingerMs);
    }
  }

  #sendToEdge(packets: readonly Uint8Array[]): void {
    const edge = this.#edge;
    if (edge === undefined || edge.state !== 'open') return;
    edge.send(toEdgeMessage(packets), (error) => this.#onEdgeWritten(error));
    // Not read while its packets wait: the edge has not the room (credit), or the network not the pace.
    if (edge.awaitingCredit || edge.bufferedAmount > this.#settings.highWaterBytes) this.#holdReading('edge-backlog');
  }

  /** Called as each message leaves for the edge: read the device again once its packets have credit and are below the low-water mark. */
  #onEdgeWritten(error: Error | null | undefined): void {
    // Node calls write callbacks with null on success, not undefined.
    if (error != null || !this.#readHolds.has('edge-backlog') || this.#phase !== 'open') return;
    const edge = this.#edge;
    if (edge === undefined || edge.awaitingCredit || edge.bufferedAmount > this.#settings.highWaterBytes / 2) return;
    this.#releaseReading('edge-backlog');
  }

  /** Counts a read against the device's share of this turn; past it, the device waits for the next turn. */
  #takeTurn(bytes: number): void {
    this.#turnBytes += bytes;
    if (this.#turnBytes < TurnBytes || this.#readHolds.has('turn')) return;
    this.#holdReading('turn');
    setImmediate(() => {
      this.#turnBytes = 0;
      this.#releaseReading('turn');
    });
  }

  #holdReading(hold: ReadHold): void {
    if (this.#readHolds.has(hold)) return;
    if (this.#readHolds.size === 0) this.#socket.pause();
    this.#readHolds.add(hold);
    // Stalled by the edge, the device cannot be heard: that silence is not its own. (Not reading what it is sent is.)
    if (hold === 'edge-backlog') this.#keepAlive.suspend();
  }

  #releaseReading(hold: ReadHold): void {
    if (!this.#readHolds.delete(hold)) return;
    if (hold === 'edge-backlog') this.#keepAlive.resume();
    if (this.#readHolds.size === 0 && this.#phase === 'open' && !this.#disconnectForwarded) this.#socket.resume();
  }

  /** The PINGREQs of one read, answered with one write. */
  #answerPings(count: number): void {
    this.pingsAnswered += count;
    if (!this.#connackForwarded) {
      this.#pingOwed = true;
      return;
    }
    this.#writeToDevice(count === 1 ? PINGRESP : Buffer.alloc(count * PINGRESP.byteLength, PINGRESP));
  }

  // ── Edge → device ─────────────────────────────────────────────────────

  #onEdgeProtocolError(reason: string): void {
    if (this.#phase === 'closing' || this.#deviceClosed) return;
    this.#log.warn('edge.protocol-error', { error: reason });
    this.#close('edge-protocol-error');
  }

  /** On the shared link: the device stopped reading for longer than its queue allows. */
  #onDeviceTooSlow(queuedBytes: number): void {
    if (this.#phase === 'closing') return;
    this.#log.warn('device.too-slow', { queuedBytes, bufferedToDevice: this.#socket.writableLength });
    this.#close('slow-device');
  }

  #onEdgeMessage(bytes: Buffer): void {
    // After the bridge decided to close, the edge has nothing left to say to the device.
    if (this.#phase === 'closing' || this.#deviceClosed) return;
    if (this.#edgeFramer !== undefined && !this.#watchForConnack(bytes)) return;
    if (this.#connackAccepted) this.#clientEvents?.fromEdge(bytes, this.#level);
    this.#writeToDevice(bytes);
    if (this.#pingOwed && this.#connackForwarded) {
      this.#pingOwed = false;
      this.#writeToDevice(PINGRESP);
    }
  }

  /** Looks for the CONNACK in the edge's first messages; false if the edge broke the stream. */
  #watchForConnack(bytes: Buffer): boolean {
    const { frames, error } = (this.#edgeFramer as PacketFramer).push(bytes);
    const connack = frames.find((frame) => frame.type === PacketType.CONNACK);
    if (connack !== undefined) {
      this.#edgeFramer = undefined;
      this.#onConnack(connack);
      return true;
    }
    if (error !== undefined) {
      this.#log.warn('edge.protocol-error', { error: error.message });
      this.#close('edge-protocol-error');
      return false;
    }
    return true;
  }

  #onConnack(frame: Frame): void {
    this.#connackForwarded = true;
    const { packets, error } = new PacketDecoder({ maxPacketSize: MaxPacketSizeLimit, protocolLevel: this.#level }).push(frame.bytes);
    const connack = packets[0];
    if (error !== undefined || connack?.cmd !== 'connack') {
      // Forwarded all the same: the device is the one to judge it.
      this.#log.warn('edge.malformed-connack', { error: error?.message ?? 'not a CONNACK' });
      return;
    }
    const code = (this.#level === 5 ? connack.reasonCode : connack.returnCode) ?? 0;
    this.#connackAccepted = code === 0;
    if (!this.#connackAccepted) {
      // The edge closes the WebSocket next; the refusal reaches the device first.
      this.#event('info', 'connection.refused', { reason: connackReasonName(this.#level, code), code });
      return;
    }
    const assigned = connack.properties?.assignedClientIdentifier;
    if (assigned !== undefined) this.#log = this.#log.child({ client: assigned });
    const serverKeepAlive = this.#level === 5 ? connack.properties?.serverKeepAlive : undefined;
    if (serverKeepAlive !== undefined && serverKeepAlive !== this.#keepAliveSeconds) {
      // [MQTT-3.2.2-22] the client must use the Server Keep Alive instead of its own.
      this.#keepAliveSeconds = serverKeepAlive;
      this.#keepAlive.start(serverKeepAlive);
    }
    if (this.#logEvents.has('connect')) this.#event('info', 'connection.accepted', { client: this.#clientId, keepalive: this.#keepAliveSeconds, clean: this.#clean, session_present: connack.sessionPresent });
  }

  #writeToDevice(bytes: Uint8Array): void {
    if (this.#deviceClosed || this.#socket.writableEnded) return;
    if (this.#socket.write(bytes)) return;
    // Backed up: nothing more from the edge, and nothing more read from the device (whose packets would
    // only add answers), until it has taken what it has.
    if (this.#phase === 'open') this.#holdReading('device-backlog');
    if (!this.#edgeReadPaused && this.#edge !== undefined) {
      this.#edgeReadPaused = true;
      this.#edge.pause();
    }
  }

  #onDeviceDrained(): void {
    this.#releaseReading('device-backlog');
    if (!this.#edgeReadPaused) return;
    this.#edgeReadPaused = false;
    this.#edge?.resume();
  }

  // ── Endings ───────────────────────────────────────────────────────────

  #onKeepAliveExpired(): void {
    if (this.#phase !== 'open') return;
    this.#event('info', 'connection.keepalive-timeout', { keepalive: this.#keepAliveSeconds });
    this.#close('keep-alive-timeout', { reply: disconnectFor(this.#level, this.#connackAccepted, ReasonCode.KeepAliveTimeout) });
  }

  #onDeviceProtocolError(error: MqttError): void {
    this.#event('warn', 'connection.protocol-error', { reason: connackReasonName(5, error.reasonCode), code: error.reasonCode, error: error.message });
    // [MQTT-4.13.1-1] a 5.0 server may send DISCONNECT 0x81 / 0x95 before closing.
    this.#close('malformed-packet', { reply: disconnectFor(this.#level, this.#connackAccepted, error.reasonCode) });
  }

  #onDeviceClosed(): void {
    this.#deviceClosed = true;
    clearTimeout(this.#lingerTimer);
    if (this.#phase === 'closing') this.#settleIfDone();
    else this.#close(this.#disconnectForwarded ? 'device-disconnected' : 'device-closed');
  }

  /** The one way down: close the edge side and the device side, each at most once. */
  #close(cause: CloseCause, options: CloseOptions = {}): void {
    if (this.#phase === 'closing') return;
    this.#phase = 'closing';
    this.#cause = cause;
    this.#keepAlive.stop();
    this.#connectAbort.abort();
    clearTimeout(this.#drainTimer);
    clearTimeout(this.#disconnectTimer);
    this.#pendingFrames = [];

    if (this.#edge !== undefined && !this.#edgeClosed) {
      const [code, reason] = edgeCloseFor(cause, this.#disconnectForwarded);
      this.#edge.close(code, reason);
    }

    if (!this.#deviceClosed) {
      // [MQTT-3.1.2-24] a reply of its own only if the device takes a packet that large (a CONNACK refusal is 5 bytes).
      const reply = options.reply;
      if (reply !== undefined && (this.#maxPacketSize === 0 || reply.byteLength <= this.#maxPacketSize)) this.#socket.write(reply);
      this.#socket.end();
      // Keep reading (and dropping) so the device's FIN completes the close.
      this.#socket.resume();
      // A device that stops reading must not keep its socket forever.
      this.#lingerTimer = setTimeout(() => this.#socket.destroy(), this.#settings.closeLingerMs);
    }
    this.#settleIfDone();
  }

  #settleIfDone(): void {
    if (this.#settled || this.#phase !== 'closing' || !this.#deviceClosed || !this.#edgeClosed) return;
    this.#settled = true;
    clearTimeout(this.#lingerTimer);
    const cause = this.#cause ?? 'device-closed';
    // Accepted connections get an info line (as at the edge); refusals already logged theirs.
    this.#event(this.#connackAccepted && this.#logEvents.has('disconnect') ? 'info' : 'debug', 'connection.closed', { reason: cause, duration_ms: Math.round(performance.now() - this.#startedAt) });
    this.#resolveClosed();
  }

  /** A connection event with every field of its kind (null where unknown), as the edge logs it. */
  #event(level: 'debug' | 'info' | 'warn', event: ConnectionEvent | ClientEvent, facts: ConnectionFacts): void {
    const known: ConnectionFacts = {
      namespace: this.#settings.namespace,
      connection: this.#connection,
      client: this.#clientId,
      username: this.#username,
      protocol: this.#clientId === undefined ? undefined : this.#level,
      transport: 'tcp',
      remote: this.#address,
    };
    this.#log[level](event, connectionFields(event, { ...known, ...facts }));
  }
}


