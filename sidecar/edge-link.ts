/**
 * The sidecar's one link to its namespace (docs/link-protocol.md): a single
 * WebSocket that carries every device's packets, each device on a numbered
 * channel. At the edge each channel is a connection like any other; here
 * each is an EdgeChannel for the device's bridge, so a device behaves
 * exactly as with a WebSocket of its own.
 *
 * - Device packets written in one turn of the event loop leave as one
 *   WebSocket message (up to ~64 KiB): far fewer messages, each billed.
 * - A FANOUT from the edge (the same packets for many devices) is written
 *   to each of them, with each one's packet ids patched in.
 * - Backpressure stays per device: a device whose socket is backed up gets
 *   a bounded queue here, then is dropped (`onOverflow`); it never pauses
 *   the link, which all the other devices share.
 * - From version 3 the edge grants credit (WINDOW, then CREDIT as its core
 *   has processed what it got): a device's bytes are sent only while it and
 *   the link have credit, the others wait in the device's own queue (and its
 *   bridge stops reading it), and devices waiting for the link's credit get
 *   it in turn, one message each. So one device can make the edge hold at
 *   most its window, and cannot take the link from the others.
 * - The link is kept alive with WebSocket pings; a lost link ends every
 *   device on it (their bridges tell them as when the edge is down) and is
 *   redialled with backoff, sooner when a device is waiting for it.
 * - An edge that does not know the link (HTTP 400 to the upgrade) is served
 *   in per-device mode instead, so a sidecar can be upgraded first.
 * - Every version this sidecar speaks is offered; the edge picks the newest
 *   it speaks too. At version 2 the sidecar reports its broker bridges
 *   (STATUS frames, status-reporter.ts); an older edge is never sent one.
 */
import os from 'node:os';
import WebSocket from 'ws';
import { BridgeCloseCode } from '../shared/bridge-close-codes.ts';
import { BridgeHeader, LinkRefusalFix, isLinkRefusal, type LinkRefusal } from '../shared/bridge-secret.ts';
import { CreditSinceVersion, LinkCreditChannel, LinkProtocolError, LinkSubprotocols, MaxLinkMessageBytes, StatusSinceVersion, decodeLinkFrames, encodeLinkFrames, fanoutBytesFor, frameSize, linkVersionOf, type LinkFrame } from '../shared/link-protocol.ts';
import type { LinkStatus } from '../shared/link-status.ts';
import { webSocketDialer, type EdgeChannel, type EdgeChannelEvents, type EdgeDialer } from './edge-channel.ts';
import { openEdgeSocket, type EdgeTarget } from './edge-socket.ts';
import { connectionFields } from '../shared/connection-log.ts';
import { describeError, type Logger } from './log.ts';
import { StatusReporter, type StatusChange } from './status-reporter.ts';

export interface EdgeLinkOptions {
  /** The edge; a link needs the bridge secret (the edge refuses one without). */
  target: EdgeTarget & { secret: string };
  log: Logger;
  /** Bytes from the edge held for a device that is not reading, before it is dropped. */
  deviceQueueBytes: number;
  /** The name the edge logs for this sidecar; host name and process id by default. */
  name?: string;
  /** The namespace the link goes to, for the link events (as the edge logs them). */
  namespace?: string;
  /** Largest message of device packets (one packet larger than this still goes, alone). */
  maxBatchBytes?: number;
  /** First and longest wait between attempts to redial a lost link. */
  backoff?: { initialMs: number; maxMs: number };
  /** How often the link is pinged; two missed pongs and it is taken for lost. */
  pingIntervalMs?: number;
  /** How long a closing channel waits for the edge's answering CLOSE. */
  closeAckMs?: number;
}

export interface EdgeLinkStats {
  /** 1 while the link is up. */
  up: number;
  /** Device channels open now. */
  channels: number;
  connects: number;
  messagesSent: number;
  messagesReceived: number;
  /** Device deliveries that came as part of a FANOUT (sent once for them all). */
  fanoutDeliveries: number;
  /** True once the edge refused the link as unknown, so devices go per-device. */
  perDevice: boolean;
  /** The link protocol version of the link now (0 while there is none). */
  version: number;
  /** DATA bytes the edge would take now, on a link with credit (version 3). */
  creditBytes: number;
  /** Devices with packets waiting for credit (not read meanwhile). */
  channelsAwaitingCredit: number;
}

/** A device's packets, waiting for credit or on their way into the next message. */
interface Outgoing {
  bytes: Uint8Array;
  written: (error?: Error | null) => void;
}

type LinkState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped';

/** Devices arriving at a down link may bring its next attempt forward, but not closer than this to the last. */
const MinRedialGapMs = 250;

/** A link refused for its secret is logged at most this often while the refusals go on. */
const RefusalLogEveryMs = 60_000;

export class EdgeLink {
  readonly #options: Required<Omit<EdgeLinkOptions, 'target' | 'log'>> & Pick<EdgeLinkOptions, 'target' | 'log'>;
  readonly #channels = new Map<number, LinkChannel>();
  /** Channels waiting for the link to come up. */
  readonly #waiting = new Set<LinkChannel>();
  #state: LinkState = 'idle';
  #ws: WebSocket | undefined;
  #nextChannel = 1;
  #failure: string | undefined;
  /** When a refusal of the link for its secret was last logged (performance.now()). */
  #refusalLoggedAt = Number.NEGATIVE_INFINITY;
  #redialTimer: NodeJS.Timeout | undefined;
  #redialAt = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #backoffMs: number;
  #pingTimer: NodeJS.Timeout | undefined;
  #pongsMissed = 0;
  #perDevice: EdgeDialer | undefined;
  #stopped: Promise<void> | undefined;
  /** The version the edge chose for the link now. */
  #version = 0;
  #reporter: StatusReporter | undefined;
  /**
   * The link's credit (version 3): DATA bytes the edge takes now, and the
   * window each new channel starts with (0 until the edge's WINDOW came).
   * Undefined on a link without credit.
   */
  #flow: { credit: number; channelWindow: number; linkWindow: number } | undefined;
  /** Channels with credit whose packets wait for the link's, in turn order. */
  readonly #waitingForLink = new Set<LinkChannel>();
  /** Channels with packets waiting for their own credit. */
  readonly #awaitingCredit = new Set<LinkChannel>();

  /** Device packets (and CLOSEs) of this turn, leaving together. */
  #batch: LinkFrame[] = [];
  #batchBytes = 0;
  #batchWritten: Array<{ channel: LinkChannel; bytes: number; written: (error?: Error | null) => void }> = [];
  #flushScheduled = false;

  readonly stats: EdgeLinkStats = { up: 0, channels: 0, connects: 0, messagesSent: 0, messagesReceived: 0, fanoutDeliveries: 0, perDevice: false, version: 0, creditBytes: 0, channelsAwaitingCredit: 0 };

  constructor(options: EdgeLinkOptions) {
    this.#options = {
      name: `${os.hostname()}:${process.pid}`,
      namespace: 'default',
      maxBatchBytes: 64 * 1024,
      backoff: { initialMs: 100, maxMs: 10_000 },
      pingIntervalMs: 30_000,
      closeAckMs: 5_000,
      ...options,
    };
    this.#backoffMs = this.#options.backoff.initialMs;
  }

  /** Dials the link now, so the first device does not wait for it. */
  start(): void {
    if (this.#state === 'idle') this.#connect();
  }

  /** Opens a device's channel (on the link, or on its own WebSocket when the edge has no link). */
  readonly dial: EdgeDialer = (address, events) => {
    if (this.#perDevice !== undefined) return this.#perDevice(address, events);
    const channel = new LinkChannel(this, this.#nextChannel++, address ?? '', events, this.#options.deviceQueueBytes);
    if (this.#state === 'stopped') channel.lost('sidecar shutting down');
    else if (this.#state === 'open') this.#openChannel(channel);
    else this.#waiting.add(channel);
    if (this.#state === 'idle') this.#connect();
    else if (this.#state === 'waiting') this.#redialSoon();
    return channel;
  };

  /**
   * Reports `read()` to the edge on every link (version 2 and later): at
   * once when it opens, then after each `statusChanged`, rate-limited.
   */
  reportStatus(read: () => LinkStatus): void {
    this.#reporter?.stop();
    this.#reporter = new StatusReporter({ read, send: (status) => this.#sendStatus(status) });
    if (this.#state === 'open') this.#reporter.opened();
  }

  /** What reportStatus reads changed. */
  statusChanged(kind: StatusChange): void {
    this.#reporter?.changed(kind);
  }

  #sendStatus(status: LinkStatus): boolean {
    // An edge that opened the link at version 1 would take the frame for a protocol error.
    if (this.#state !== 'open' || this.#version < StatusSinceVersion) return false;
    this.#send([{ type: 'status', status }]);
    return true;
  }

  /** Ends the link for a shutdown (after the devices' channels are closed). */
  close(timeoutMs = 2_000): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      this.#reporter?.stop();
      clearTimeout(this.#redialTimer);
      clearInterval(this.#pingTimer);
      const ws = this.#ws;
      this.#state = 'stopped';
      for (const channel of [...this.#waiting]) channel.lost('sidecar shutting down');
      if (ws === undefined || ws.readyState === WebSocket.CLOSED) {
        resolve();
        return;
      }
      this.#flush();
      const cut = setTimeout(() => ws.terminate(), timeoutMs);
      ws.once('close', () => {
        clearTimeout(cut);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(BridgeCloseCode.GoingAway, 'sidecar shutting down');
    });
    return this.#stopped;
  }

  // ── The link's WebSocket ──────────────────────────────────────────────

  #connect(): void {
    this.#state = 'connecting';
    this.#lastAttemptAt = performance.now();
    this.#failure = undefined;
    const ws = openEdgeSocket(this.#options.target, undefined, LinkSubprotocols);
    this.#ws = ws;
    ws.on('open', () => this.#onOpen(ws));
    ws.on('message', (data, isBinary) => this.#onMessage(ws, data, isBinary));
    ws.on('pong', () => {
      this.#pongsMissed = 0;
    });
    ws.on('unexpected-response', (_request, response) => {
      // An edge from before the link answers its subprotocol with 400: serve devices one WebSocket each.
      if (response.statusCode === 400 && this.#channels.size === 0) {
        this.#options.log.warn('edge.link-unsupported', { url: this.#options.target.url, status: 400, fallback: 'a WebSocket per device' });
        this.#perDevice = webSocketDialer(this.#options.target);
        this.stats.perDevice = true;
      }
      const refusal = response.headers[BridgeHeader.LinkRefused];
      if (response.statusCode === 403 && isLinkRefusal(typeof refusal === 'string' ? refusal : undefined)) {
        // The secrets disagree: said at once, and again every minute while they do, with what to set.
        const reason = refusal as LinkRefusal;
        this.#failure = LinkRefusalFix[reason];
        const now = performance.now();
        if (now - this.#refusalLoggedAt >= RefusalLogEveryMs) {
          this.#refusalLoggedAt = now;
          this.#options.log.error('edge.link-refused', { url: this.#options.target.url, reason, fix: LinkRefusalFix[reason], devices: 'refused until it is fixed' });
        }
      } else {
        this.#failure = `the edge answered the link upgrade with HTTP ${response.statusCode ?? '?'}`;
      }
      response.resume();
      ws.terminate();
    });
    ws.on('error', (error) => {
      this.#failure ??= describeError(error);
    });
    ws.on('close', (code, reason) => this.#onClose(ws, code, reason.toString()));
  }

  #onOpen(ws: WebSocket): void {
    if (ws !== this.#ws || this.#state !== 'connecting') return;
    const version = linkVersionOf(ws.protocol);
    if (version === undefined) {
      this.#protocolError(ws, `the edge chose the subprotocol "${ws.protocol}", which this sidecar did not offer`);
      return;
    }
    this.#version = version;
    this.stats.version = version;
    // No DATA before the edge's WINDOW (it follows its HELLO): until then every channel has no credit.
    this.#flow = version >= CreditSinceVersion ? { credit: 0, channelWindow: 0, linkWindow: 0 } : undefined;
    this.#state = 'open';
    this.stats.up = 1;
    this.stats.connects++;
    this.#backoffMs = this.#options.backoff.initialMs;
    this.#refusalLoggedAt = Number.NEGATIVE_INFINITY;
    this.#options.log.info('link.opened', connectionFields('link.opened', { namespace: this.#options.namespace, sidecar: this.#options.name, remote: this.#options.target.url }));
    this.#send([{ type: 'hello', version, name: this.#options.name }]);
    for (const channel of [...this.#waiting]) this.#openChannel(channel);
    this.#waiting.clear();
    this.#reporter?.opened();
    this.#pongsMissed = 0;
    this.#pingTimer = setInterval(() => this.#ping(ws), this.#options.pingIntervalMs);
    this.#pingTimer.unref();
  }

  #ping(ws: WebSocket): void {
    if (this.#pongsMissed >= 2) {
      this.#options.log.warn('edge.link-silent', { pongsMissed: this.#pongsMissed });
      ws.terminate();
      return;
    }
    this.#pongsMissed++;
    ws.ping();
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#ws = undefined;
    clearInterval(this.#pingTimer);
    const wasOpen = this.#state === 'open';
    const stopped = this.#state === 'stopped';
    this.stats.up = 0;
    this.stats.version = 0;
    this.#flow = undefined;
    this.#waitingForLink.clear();
    this.#awaitingCredit.clear();
    this.#countCredit();
    this.#batch = [];
    this.#batchBytes = 0;
    const written = this.#batchWritten.splice(0);
    for (const entry of written) entry.written(new Error('link lost'));
    const why = this.#failure ?? (reason === '' ? `closed with code ${code}` : `closed with code ${code}: ${reason}`);
    if (wasOpen && !stopped) {
      this.#options.log.warn('link.closed', connectionFields('link.closed', { namespace: this.#options.namespace, sidecar: this.#options.name, remote: this.#options.target.url, reason: why, code, devices: this.#channels.size }));
    }
    else if (!stopped) this.#options.log[this.#backoffMs === this.#options.backoff.initialMs ? 'warn' : 'debug']('edge.link-unavailable', { url: this.#options.target.url, error: why, waiting: this.#waiting.size });
    for (const channel of [...this.#channels.values()]) channel.lost(why);
    for (const channel of [...this.#waiting]) channel.lost(why);
    this.#waiting.clear();
    if (stopped) return;
    if (this.#perDevice !== undefined) {
      this.#state = 'idle';
      return;
    }
    this.#state = 'waiting';
    const delay = this.#backoffMs * (0.8 + Math.random() * 0.4);
    this.#backoffMs = Math.min(this.#options.backoff.maxMs, this.#backoffMs * 2);
    this.#scheduleRedial(delay);
  }

  #scheduleRedial(delayMs: number): void {
    clearTimeout(this.#redialTimer);
    this.#redialAt = performance.now() + delayMs;
    this.#redialTimer = setTimeout(() => {
      if (this.#state === 'waiting') this.#connect();
    }, delayMs);
  }

  /** A device is waiting: redial now, or as soon as the last attempt is far enough behind. */
  #redialSoon(): void {
    const soonest = Math.max(performance.now(), this.#lastAttemptAt + MinRedialGapMs);
    if (soonest < this.#redialAt) this.#scheduleRedial(soonest - performance.now());
  }

  #onMessage(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    if (ws !== this.#ws) return;
    this.stats.messagesReceived++;
    if (!isBinary) {
      this.#protocolError(ws, 'a text frame');
      return;
    }
    const message = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    let frames: LinkFrame[];
    try {
      frames = decodeLinkFrames(message);
    } catch (error) {
      if (!(error instanceof LinkProtocolError)) throw error;
      this.#protocolError(ws, error.message);
      return;
    }
    for (const frame of frames) {
      switch (frame.type) {
        case 'hello':
          if (frame.version !== this.#version) {
            this.#protocolError(ws, `link protocol version ${frame.version} in HELLO; the link was opened as version ${this.#version}`);
            return;
          }
          break;
        case 'status':
        case 'unknown':
          // A report goes the other way; a frame of a later version is skipped (docs/link-protocol.md).
          break;
        case 'window':
          if (this.#flow === undefined || this.#flow.channelWindow !== 0) {
            this.#protocolError(ws, this.#flow === undefined ? `WINDOW on a link of version ${this.#version}` : 'a second WINDOW');
            return;
          }
          this.#window(frame.link, frame.channel);
          break;
        case 'credit':
          if (this.#flow === undefined) {
            this.#protocolError(ws, `CREDIT on a link of version ${this.#version}`);
            return;
          }
          for (const grant of frame.grants) this.#credit(grant.channel, grant.bytes);
          this.#pump();
          break;
        case 'data':
          this.#channels.get(frame.channel)?.deliver(asBuffer(frame.bytes));
          break;
        case 'fanout':
          for (const device of frame.devices) {
            const channel = this.#channels.get(device.channel);
            if (channel === undefined) continue;
            this.stats.fanoutDeliveries++;
            channel.deliver(asBuffer(fanoutBytesFor(frame.chunks, device.packetIds)));
          }
          break;
        case 'close':
          this.#channels.get(frame.channel)?.closedByEdge(frame.code, frame.reason ?? '');
          break;
        case 'open':
          this.#protocolError(ws, 'OPEN from the edge');
          return;
      }
    }
  }

  #protocolError(ws: WebSocket, reason: string): void {
    this.#failure = `link protocol error: ${reason}`;
    this.#options.log.warn('edge.link-protocol-error', { error: reason });
    ws.close(BridgeCloseCode.ProtocolError, `link protocol error: ${reason}`.slice(0, 120));
    // Its devices end now, not when the close handshake completes.
    ws.terminate();
  }

  // ── Channels ──────────────────────────────────────────────────────────

  #openChannel(channel: LinkChannel): void {
    channel.credit = this.#flow?.channelWindow ?? 0;
    this.#channels.set(channel.id, channel);
    this.stats.channels = this.#channels.size;
    this.#enqueue({ type: 'open', channel: channel.id, address: channel.address });
    channel.opened();
  }

  /**
   * Sends a device's packets: with the rest of this turn's, or once the
   * device and the link have credit for them (in the device's outbox until
   * then; each of its packets waits for those before it).
   */
  sendData(channel: LinkChannel, bytes: Uint8Array, written: (error?: Error | null) => void): boolean {
    if (this.#state !== 'open') return false;
    if (bytes.byteLength + 9 > MaxLinkMessageBytes) return false;
    const flow = this.#flow;
    if (flow === undefined) {
      this.#enqueue({ type: 'data', channel: channel.id, bytes }, { channel, bytes: bytes.byteLength, written });
      return true;
    }
    channel.outbox.push({ bytes, written });
    this.#schedule(channel);
    this.#pump();
    return true;
  }

  /** Ends a channel on the link; after what it still has in its outbox, so that its DISCONNECT arrives before its CLOSE. */
  sendClose(channel: LinkChannel, code: number, reason: string): void {
    if (this.#state !== 'open') return;
    if (channel.outbox.length > 0) channel.closeAfterOutbox = { code, reason };
    else this.#enqueue({ type: 'close', channel: channel.id, code, reason });
  }

  forget(channel: LinkChannel): void {
    this.#channels.delete(channel.id);
    this.#waiting.delete(channel);
    this.#waitingForLink.delete(channel);
    this.#awaitingCredit.delete(channel);
    this.stats.channels = this.#channels.size;
    this.#countCredit();
  }

  /** The edge's windows: the link's credit, and every channel's (those open now, and those to come). */
  #window(link: number, channel: number): void {
    const flow = this.#flow as { credit: number; channelWindow: number; linkWindow: number };
    flow.credit += link;
    flow.linkWindow = link;
    flow.channelWindow = channel;
    for (const open of this.#channels.values()) {
      open.credit += channel;
      this.#schedule(open);
    }
    this.#pump();
  }

  /** Credit back from the edge; never above a window (credit comes back only for what was sent, so more is a broken edge's). */
  #credit(channelId: number, bytes: number): void {
    const flow = this.#flow as { credit: number; channelWindow: number; linkWindow: number };
    if (channelId === LinkCreditChannel) {
      flow.credit = Math.min(flow.linkWindow, flow.credit + bytes);
      return;
    }
    // Credit for a channel that has closed since is of no use.
    const channel = this.#channels.get(channelId);
    if (channel === undefined) return;
    channel.credit = Math.min(flow.channelWindow, channel.credit + bytes);
    this.#schedule(channel);
  }

  /** Where a channel with packets waits: for the link's credit (it has its own), or for its own. */
  #schedule(channel: LinkChannel): void {
    if (channel.outbox.length === 0) return;
    if (channel.credit > 0) {
      this.#awaitingCredit.delete(channel);
      this.#waitingForLink.add(channel);
    } else {
      this.#waitingForLink.delete(channel);
      this.#awaitingCredit.add(channel);
    }
  }

  /**
   * Sends what credit allows: the channels waiting for the link's credit in
   * turn, one message each per round (the last may overdraw a credit: a
   * message is never split, so a packet larger than a window still goes).
   */
  #pump(): void {
    const flow = this.#flow;
    if (flow !== undefined) {
      while (flow.credit > 0 && this.#waitingForLink.size > 0) {
        const channel = this.#waitingForLink.values().next().value as LinkChannel;
        this.#waitingForLink.delete(channel);
        const next = channel.outbox.shift() as Outgoing;
        channel.credit -= next.bytes.byteLength;
        flow.credit -= next.bytes.byteLength;
        this.#enqueue({ type: 'data', channel: channel.id, bytes: next.bytes }, { channel, bytes: next.bytes.byteLength, written: next.written });
        const close = channel.closeAfterOutbox;
        if (channel.outbox.length === 0 && close !== undefined) {
          channel.closeAfterOutbox = undefined;
          this.#enqueue({ type: 'close', channel: channel.id, code: close.code, reason: close.reason });
        }
        this.#schedule(channel);
      }
    }
    this.#countCredit();
  }

  #countCredit(): void {
    this.stats.creditBytes = this.#flow?.credit ?? 0;
    this.stats.channelsAwaitingCredit = this.#awaitingCredit.size + this.#waitingForLink.size;
  }

  #enqueue(frame: LinkFrame, written?: { channel: LinkChannel; bytes: number; written: (error?: Error | null) => void }): void {
    const size = frameSize(frame);
    if (this.#batch.length > 0 && this.#batchBytes + size > this.#options.maxBatchBytes) this.#flush();
    this.#batch.push(frame);
    this.#batchBytes += size;
    if (written !== undefined) this.#batchWritten.push(written);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // After every device read of this turn of the event loop: they share the message.
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  #flush(): void {
    if (this.#batch.length === 0) return;
    const frames = this.#batch;
    const written = this.#batchWritten;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#batchWritten = [];
    this.#send(frames, (error) => {
      for (const entry of written) {
        entry.channel.written(entry.bytes);
        entry.written(error);
      }
    });
  }

  #send(frames: readonly LinkFrame[], done?: (error?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) {
      done?.(new Error('link not open'));
      return;
    }
    this.stats.messagesSent++;
    ws.send(encodeLinkFrames(frames), done);
  }

  get closeAckMs(): number {
    return this.#options.closeAckMs;
  }
}

/** One device's channel on the link, as its bridge sees it. */
class LinkChannel implements EdgeChannel {
  #state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting';
  /** Bytes sent by the device and not yet handed to the network (its outbox included). */
  #buffered = 0;
  /** DATA bytes the edge takes from this device now (a link with credit). */
  credit = 0;
  /** Packets waiting for credit, oldest first. */
  readonly outbox: Outgoing[] = [];
  /** A CLOSE to send once the outbox has gone. */
  closeAfterOutbox: { code: number; reason: string } | undefined;
  #paused = false;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #ackTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly link: EdgeLink,
    readonly id: number,
    readonly address: string,
    private readonly events: EdgeChannelEvents,
    private readonly queueLimit: number,
  ) {}

  get state(): 'connecting' | 'open' | 'closed' {
    return this.#state === 'closing' ? 'closed' : this.#state;
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  get awaitingCredit(): boolean {
    return this.outbox.length > 0;
  }

  get queuedForDevice(): number {
    return this.#queuedBytes;
  }

  opened(): void {
    this.#state = 'open';
    queueMicrotask(() => {
      if (this.#state === 'open') this.events.onOpen();
    });
  }

  send(bytes: Uint8Array, written: (error?: Error | null) => void): void {
    if (this.#state !== 'open') {
      written(new Error('channel not open'));
      return;
    }
    if (!this.link.sendData(this, bytes, written)) {
      written(new Error('link not open'));
      return;
    }
    this.#buffered += bytes.byteLength;
  }

  /** The link handed this many of the channel's bytes to the network. */
  written(bytes: number): void {
    this.#buffered -= bytes;
  }

  deliver(bytes: Buffer): void {
    if (this.#state === 'closed') return;
    if (!this.#paused) {
      this.events.onMessage(bytes);
      return;
    }
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.byteLength;
    if (this.#queuedBytes > this.queueLimit && this.#state === 'open') {
      // Not reading for this long: drop the device rather than hold the link (or grow without bound).
      const queued = this.#queuedBytes;
      this.#queue = [];
      this.#queuedBytes = 0;
      this.events.onOverflow?.(queued);
    }
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    while (!this.#paused && this.#queue.length > 0 && this.#state !== 'closed') {
      const next = this.#queue.shift() as Buffer;
      this.#queuedBytes -= next.byteLength;
      this.events.onMessage(next);
    }
  }

  close(code: number, reason: string): void {
    switch (this.#state) {
      case 'connecting':
        this.#finish(code, reason);
        return;
      case 'open':
        // Like a WebSocket's close handshake: the edge answers with its own CLOSE.
        this.#state = 'closing';
        this.resume();
        this.link.sendClose(this, code, reason);
        this.#ackTimer = setTimeout(() => this.#finish(1006, 'no answer from the edge'), this.link.closeAckMs);
        this.#ackTimer.unref();
        return;
      default:
        return;
    }
  }

  terminate(): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'open') this.link.sendClose(this, BridgeCloseCode.DeviceLost, 'terminated');
    this.#finish(1006, 'terminated');
  }

  /** The edge closed the channel, or answered our CLOSE. */
  closedByEdge(code: number, reason: string): void {
    this.#finish(code, reason);
  }

  /** The link went away under the channel. */
  lost(why: string): void {
    if (this.#state === 'closed') return;
    const connecting = this.#state === 'connecting';
    this.#finish(1006, why, connecting ? new Error(why) : undefined);
  }

  #finish(code: number, reason: string, error?: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#ackTimer);
    this.#queue = [];
    this.#queuedBytes = 0;
    const unsent = this.outbox.splice(0);
    // A CLOSE still behind packets that got no credit in time goes without them: the edge must hear of the end.
    const close = this.closeAfterOutbox;
    this.closeAfterOutbox = undefined;
    if (close !== undefined) this.link.sendClose(this, close.code, close.reason);
    this.link.forget(this);
    for (const entry of unsent) entry.written(new Error('channel closed'));
    // Events come later, as a WebSocket's do: never inside the caller's own close().
    queueMicrotask(() => {
      if (error !== undefined) this.events.onError(error);
      this.events.onClose(code, reason);
    });
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
