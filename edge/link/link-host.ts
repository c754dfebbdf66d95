/**
 * The edge's end of one sidecar link (docs/link-protocol.md): many devices
 * on one WebSocket, each on a numbered channel and, to the namespace, a
 * connection like any other, with a transport that writes frames on the
 * link. Output of one event leaves as one message for all devices of the
 * link; a message many devices get alike (a fan-out) crosses it once, with
 * their list, and the sidecar writes it to each.
 *
 * A malformed frame ends the link (and so every device on it) with a
 * logged reason; it never reaches the namespace core.
 *
 * From version 3 (and always for a gateway) the link is flow-controlled:
 * the host grants a window of DATA bytes to the link and to each channel
 * and returns credit as the core has processed a channel's data
 * (credit-returns.ts). Such a link's messages are handed to the core's
 * connections and not waited for: each device's packets still go in order,
 * a device with much to do does not hold up the others behind it in the
 * next message, and what the sender may queue here is bounded by the
 * windows. A link of an older version gets no credit, and each message is
 * waited for, as before.
 */
import { BridgeCloseCode } from '../../shared/bridge-close-codes.ts';
import { concatBytes } from '../../shared/codec/framer.ts';
import { withPacketId } from '../../shared/codec/packet-id.ts';
import { CreditSinceVersion, LinkProtocolError, decodeLinkFrames, encodeLinkFrames, frameSize, isValidChannel, type FanoutChunk, type LinkFrame } from '../../shared/link-protocol.ts';
import { WebSocketCloseCode, type CloseCause } from '../core/close-cause.ts';
import type { AcceptMeta, ConnectionState, OutgoingChunk, Transport } from '../core/link.ts';
import type { ConnectionLog } from '../core/connection-log.ts';
import type { SidecarView } from '../core/readouts.ts';
import { isSharedEncoding } from '../core/publish-encoding.ts';
import { CreditReturns } from './credit-returns.ts';
import type { LinkWindows } from './flow-control.ts';
import type { LinkDeviceStore } from './link-device-store.ts';
import type { LinkStatusStore, ReceivedStatus } from './link-status-store.ts';

/** What a link needs of the namespace. */
export interface LinkCore {
  accept(transport: Transport, meta: AcceptMeta): ConnectionState;
  receive(connectionId: string, bytes: Uint8Array): Promise<void>;
  closed(connectionId: string, cause: CloseCause): Promise<void>;
  /** Ends a connection whose carrier holds far too much of its input (DISCONNECT 0x96); its transport closes. */
  refuseInput(connectionId: string, reason: string): void;
}

/** The link's WebSocket, as far as the host writes to it. */
export interface LinkSocket {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
  /** What was sent and not yet delivered, where the socket knows (see Transport.backlog). */
  backlog?(): number;
  drained?(): Promise<void>;
}

/** What the link's WebSocket attachment holds. */
export interface LinkAttachment {
  v: 1;
  kind: 'link';
  id: string;
  /** The sidecar's name, from its HELLO. */
  name?: string;
  remoteAddress?: string;
  /** The link protocol version the link was opened at (its subprotocol); absent: 1 (an attachment from before version 2). */
  version?: number;
  /** When the edge accepted the link (ms since the epoch). */
  openedAt?: number;
}

/** What the sidecar's close codes say about why its device went away. */
const CausesFromSidecar: ReadonlyMap<number, CloseCause> = new Map([
  [BridgeCloseCode.GoingAway, 'server-shutdown'],
  [BridgeCloseCode.KeepAliveTimeout, 'keepalive-timeout'],
  [BridgeCloseCode.DeviceProtocolError, 'protocol-error'],
]);

/**
 * Who is at the other end. A sidecar speaks the protocol as documented. A
 * gateway object of the same namespace (edge/gateway/) is one of ours and
 * carries WebSocket clients: it starts named (no HELLO), its devices keep
 * alive by the namespace's own clock (they are not bridged), and after a
 * restart it may reopen a channel the namespace still holds or send for one
 * the namespace has closed: the old device is ended as lost, and a device
 * the namespace does not know is told to close, so nothing stays half open.
 */
export type LinkPeer = 'sidecar' | 'gateway';

/** A link message stays below this many bytes (one device's largest packet may still exceed it, alone). */
const MaxMessageBytes = 256 * 1024;

export class LinkHost {
  private readonly connections = new Map<number, string>();
  private readonly channels = new Map<string, number>();
  private pending: Array<{ channel: number; chunks: readonly OutgoingChunk[] } | { close: number; code: number; reason: string }> = [];
  private flushScheduled = false;
  private ended = false;
  /** What the sender is owed, on a flow-controlled link. */
  private readonly credit: CreditReturns | undefined;

  constructor(
    readonly attachment: LinkAttachment,
    private readonly socket: LinkSocket,
    private readonly devices: LinkDeviceStore,
    private readonly log: ConnectionLog,
    /** Persists the attachment (the sidecar's name, once known). */
    private readonly persist: (attachment: LinkAttachment) => void,
    private readonly peer: LinkPeer = 'sidecar',
    /** Where a sidecar's STATUS reports are kept (none: they are not, as for a gateway, which sends none). */
    private readonly reports?: { store: LinkStatusStore; now: () => number } | undefined,
    /** The windows this host grants, on a link that has them: a gateway's, or a sidecar's from version 3. */
    windows?: LinkWindows,
  ) {
    const controlled = windows !== undefined && (peer === 'gateway' || this.version >= CreditSinceVersion);
    // Credit due at once is flushed with this turn's output; credit of an idle channel after the namespace's
    // own deferred flush (a zero-delay timer), so that it leaves with the answers to what was processed.
    this.credit = controlled ? new CreditReturns(windows, (when) => (when === 'now' ? this.scheduleFlush() : void setTimeout(() => this.scheduleFlush(), 0)), peer === 'sidecar') : undefined;
  }

  /** What the sidecar last reported; read from storage once after a wake. */
  private report: ReceivedStatus | null | undefined;

  /** The version the link was opened at. */
  get version(): number {
    return this.attachment.version ?? 1;
  }

  /** The link for the admin API: who, since when, how many devices, and the sidecar's bridges. */
  view(): SidecarView {
    if (this.report === undefined) this.report = this.reports?.store.load(this.id) ?? null;
    const { name, remoteAddress, openedAt } = this.attachment;
    return {
      id: this.id,
      ...(name === undefined ? {} : { name }),
      ...(remoteAddress === undefined ? {} : { remote: remoteAddress }),
      devices: this.deviceCount,
      ...(openedAt === undefined ? {} : { connectedSince: openedAt }),
      version: this.version,
      bridges: this.report?.status.bridges ?? [],
      ...(this.report === null ? {} : { statusAt: this.report.receivedAt }),
    };
  }

  /** Messages (for a gateway: calls) and frames that crossed this link, for the per-object numbers (memory only). */
  readonly traffic = { messagesIn: 0, framesIn: 0, framesOut: 0 };

  /** Channels open on this link now. */
  openChannels(): number[] {
    return [...this.connections.keys()];
  }

  /**
   * A gateway that started afresh (or answered a probe) says which of its
   * channels still have a client: the others of `among` (default: all open
   * here) are gone, their sockets died with it, and end as lost. `among`
   * keeps a channel the gateway opened after it answered from being taken
   * for a dead one.
   */
  async keepOnly(core: LinkCore, live: ReadonlySet<number>, among?: ReadonlySet<number>): Promise<void> {
    const gone = [...this.connections].filter(([channel]) => !live.has(channel) && (among === undefined || among.has(channel)));
    for (const [channel, connectionId] of gone) this.forget(channel, connectionId);
    await Promise.allSettled(gone.map(([, connectionId]) => core.closed(connectionId, 'network-error')));
  }

  /** Devices open on this link now. */
  get deviceCount(): number {
    return this.connections.size;
  }

  get id(): string {
    return this.attachment.id;
  }

  /** The devices of this link that survived hibernation, as connections to restore. */
  restoreDevices(): Array<{ state: ConnectionState; transport: Transport }> {
    return this.devices.load(this.id).map(({ channel, state }) => {
      this.connections.set(channel, state.id);
      this.channels.set(state.id, channel);
      return { state, transport: this.transportFor(channel) };
    });
  }

  /**
   * The devices of this link that the namespace knew before it restarted,
   * closed instead of restored: what it was sending them may be lost, and
   * only a reconnect makes MQTT resend (gateway/output-marker.ts). Their
   * rows go; their sessions end with the lost connections. Returns how many.
   */
  closeRestored(code: number, reason: string): number {
    const restored = this.devices.load(this.id);
    this.devices.forgetLink(this.id);
    for (const { channel } of restored) this.answerClose(channel, code, reason);
    return restored.length;
  }

  /** One message from the sidecar: its frames, in order. */
  async receive(core: LinkCore, message: Uint8Array): Promise<void> {
    if (this.ended) return;
    let frames: LinkFrame[];
    try {
      frames = decodeLinkFrames(message);
    } catch (error) {
      if (!(error instanceof LinkProtocolError)) throw error;
      await this.fail(core, error.message);
      return;
    }
    this.traffic.messagesIn++;
    this.traffic.framesIn += frames.length;
    // Each device's packets are handled in order by the core; different devices go on side by side.
    const work: Array<Promise<void>> = [];
    for (const frame of frames) {
      const problem = this.handle(core, frame, work);
      if (problem !== undefined) {
        await Promise.allSettled(work);
        await this.fail(core, problem);
        return;
      }
    }
    // Credit bounds what the sender can queue here: the next message need not wait for this one's work.
    if (this.credit !== undefined) return;
    await Promise.all(work);
  }

  /** Handles one frame; returns what is wrong with it, if anything. */
  private handle(core: LinkCore, frame: LinkFrame, work: Array<Promise<void>>): string | undefined {
    if (this.attachment.name === undefined && frame.type !== 'hello') return `${frame.type.toUpperCase()} before HELLO`;
    switch (frame.type) {
      case 'hello':
        if (this.attachment.name !== undefined) return 'a second HELLO';
        // The version was agreed on in the upgrade (the subprotocol); HELLO must say the same.
        if (frame.version !== this.version) return `link protocol version ${frame.version} in HELLO; the link was opened as version ${this.version}`;
        this.attachment.name = frame.name;
        this.persist(this.attachment);
        // The windows follow the HELLO at once: the sidecar sends no DATA before it knows them.
        this.send(encodeLinkFrames([{ type: 'hello', version: this.version, name: 'edge' }, ...(this.credit === undefined ? [] : [{ type: 'window' as const, ...this.credit.windows }])]), this.credit === undefined ? 1 : 2);
        this.log.link('info', 'link.opened', { sidecar: frame.name, remote: this.attachment.remoteAddress });
        return undefined;
      case 'open': {
        if (!isValidChannel(frame.channel)) return `channel ${frame.channel} out of range`;
        const stale = this.connections.get(frame.channel);
        if (stale !== undefined) {
          if (this.peer === 'sidecar') return `OPEN of channel ${frame.channel}, which is open`;
          // A gateway restarted and numbers its channels anew: the device that had this one is gone.
          this.forget(frame.channel, stale);
          work.push(core.closed(stale, 'network-error'));
        }
        const address = frame.address === '' ? {} : { remoteAddress: frame.address };
        const meta: AcceptMeta = this.peer === 'gateway' ? { bridged: false, transport: 'ws', ...address } : { bridged: true, transport: 'link', ...address };
        const state = core.accept(this.transportFor(frame.channel), meta);
        this.connections.set(frame.channel, state.id);
        this.channels.set(state.id, frame.channel);
        return undefined;
      }
      case 'data': {
        const connectionId = this.connections.get(frame.channel);
        if (connectionId !== undefined) {
          const processed = core.receive(connectionId, frame.bytes);
          this.credit?.track(frame.channel, frame.bytes.byteLength, processed);
          work.push(processed);
          return undefined;
        }
        // A device the edge already closed may still have packets on their way: dropped, and the link's credit back.
        this.credit?.dropped(frame.bytes.byteLength);
        // A gateway's client the namespace does not know (lost in a restart of either): told to go.
        if (this.peer === 'gateway') this.answerClose(frame.channel, WebSocketCloseCode['server-error'], 'not connected');
        return undefined;
      }
      case 'close': {
        const connectionId = this.connections.get(frame.channel);
        if (this.peer === 'gateway' && frame.code === BridgeCloseCode.TooMuchInput) {
          // The gateway holds too much of this client's input: the core ends it, and its CLOSE answers.
          if (connectionId === undefined) this.answerClose(frame.channel, WebSocketCloseCode['server-error'], 'not connected');
          else core.refuseInput(connectionId, 'sent far more than its share: its input waiting at its gateway passed the bound');
          return undefined;
        }
        // The edge closed this channel first and its CLOSE crossed this one: done on both ends.
        if (connectionId === undefined) return undefined;
        if (this.peer === 'gateway') {
          // A gateway's client went away (its WebSocket closed): nothing to answer, the socket is gone.
          this.forget(frame.channel, connectionId);
          work.push(core.closed(connectionId, CausesFromSidecar.get(frame.code) ?? 'network-error'));
          return undefined;
        }
        this.forget(frame.channel, connectionId);
        // Answered like a WebSocket close handshake: the sidecar frees the channel on the answer.
        this.pending.push({ close: frame.channel, code: frame.code, reason: 'closed' });
        this.scheduleFlush();
        work.push(core.closed(connectionId, CausesFromSidecar.get(frame.code) ?? 'network-error'));
        return undefined;
      }
      case 'fanout':
        return 'FANOUT from the sidecar';
      case 'window':
      case 'credit':
        return `${frame.type.toUpperCase()} from the sidecar`;
      case 'status': {
        const receivedAt = this.reports?.now() ?? Date.now();
        this.report = { status: frame.status, receivedAt };
        this.reports?.store.save(this.id, frame.status, receivedAt);
        return undefined;
      }
      case 'unknown':
        // A frame of a later version (docs/link-protocol.md): skipped, the link goes on.
        return undefined;
    }
  }

  /** The link is gone (closed, broken, or the sidecar went away): every device on it is. */
  async closeAll(core: LinkCore, cause: CloseCause): Promise<void> {
    this.ended = true;
    const ids = [...this.connections.values()];
    this.connections.clear();
    this.channels.clear();
    this.devices.forgetLink(this.id);
    this.reports?.store.forget(this.id);
    await Promise.allSettled(ids.map((id) => core.closed(id, cause)));
  }

  private async fail(core: LinkCore, reason: string): Promise<void> {
    this.log.log.log('warn', 'link_protocol_error', { link: this.id, sidecar: this.attachment.name, error: reason });
    try {
      this.socket.close(1002, `link protocol error: ${reason}`.slice(0, 120));
    } catch {
      // Already closed.
    }
    await this.closeAll(core, 'network-error');
  }

  private answerClose(channel: number, code: number, reason: string): void {
    this.pending.push({ close: channel, code, reason });
    this.scheduleFlush();
  }

  private forget(channel: number, connectionId: string): void {
    this.credit?.forget(channel);
    this.connections.delete(channel);
    this.channels.delete(connectionId);
    this.devices.delete(this.id, channel);
  }

  private transportFor(channel: number): Transport {
    return {
      send: (bytes) => this.enqueue(channel, [{ bytes }]),
      sendChunks: (chunks) => this.enqueue(channel, chunks),
      close: (kind, reason) => {
        const connectionId = this.connections.get(channel);
        if (connectionId !== undefined) this.forget(channel, connectionId);
        this.pending.push({ close: channel, code: WebSocketCloseCode[kind], reason });
        this.scheduleFlush();
      },
      persist: (state) => {
        if (this.connections.get(channel) === state.id) this.devices.save(this.id, channel, state);
      },
      backlog: () => this.socket.backlog?.() ?? 0,
      drained: () => this.socket.drained?.() ?? Promise.resolve(),
    };
  }

  private enqueue(channel: number, chunks: readonly OutgoingChunk[]): void {
    if (this.ended) return;
    this.pending.push({ channel, chunks });
    this.scheduleFlush();
  }

  private send(message: Uint8Array, frames: number): void {
    this.traffic.framesOut += frames;
    this.socket.send(message);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Everything the namespace writes in this turn (one flush of all its connections) leaves together.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Writes what is pending as few messages as possible. Devices that get
   * the same chunks (the same shared encodings, each with its own packet
   * ids) go as one FANOUT frame; the others as DATA frames.
   */
  private flush(): void {
    const pending = this.pending;
    this.pending = [];
    const grants = this.credit?.take();
    if ((pending.length === 0 && grants === undefined) || this.ended) return;
    // Credit first: the sender may be waiting for it to read its devices again.
    const frames: LinkFrame[] = grants === undefined ? [] : [{ type: 'credit', grants }];
    const groups = new Map<string, { chunks: readonly OutgoingChunk[]; devices: Array<{ channel: number; packetIds: number[] }> }>();
    for (const item of pending) {
      if ('close' in item) {
        this.emitGroups(groups, frames);
        frames.push({ type: 'close', channel: item.close, code: item.code, reason: item.reason });
        continue;
      }
      const key = shapeOf(item.chunks);
      if (key === undefined) {
        // Nothing in it another device gets alike (the usual one-to-one message): DATA as it is.
        frames.push({ type: 'data', channel: item.channel, bytes: bytesOf(item.chunks) });
        continue;
      }
      const group = groups.get(key);
      const packetIds = item.chunks.flatMap((chunk) => (chunk.packetId === undefined ? [] : [chunk.packetId]));
      if (group === undefined) groups.set(key, { chunks: item.chunks, devices: [{ channel: item.channel, packetIds }] });
      else group.devices.push({ channel: item.channel, packetIds });
    }
    this.emitGroups(groups, frames);
    this.sendFrames(frames);
  }

  private emitGroups(groups: Map<string, { chunks: readonly OutgoingChunk[]; devices: Array<{ channel: number; packetIds: number[] }> }>, frames: LinkFrame[]): void {
    for (const { chunks, devices } of groups.values()) {
      if (devices.length > 1) {
        const fanoutChunks: FanoutChunk[] = chunks.map((chunk) => ({ bytes: chunk.bytes, patched: chunk.packetId !== undefined }));
        // A FANOUT names at most 65,535 devices.
        for (let i = 0; i < devices.length; i += 0xffff) frames.push({ type: 'fanout', chunks: fanoutChunks, devices: devices.slice(i, i + 0xffff) });
        continue;
      }
      const device = devices[0] as { channel: number; packetIds: number[] };
      frames.push({ type: 'data', channel: device.channel, bytes: bytesOf(chunks) });
    }
    groups.clear();
  }

  private sendFrames(frames: readonly LinkFrame[]): void {
    let batch: LinkFrame[] = [];
    let size = 0;
    for (const frame of frames) {
      const bytes = frameSize(frame);
      if (batch.length > 0 && size + bytes > MaxMessageBytes) {
        this.send(encodeLinkFrames(batch), batch.length);
        batch = [];
        size = 0;
      }
      batch.push(frame);
      size += bytes;
    }
    if (batch.length > 0) {
      try {
        this.send(encodeLinkFrames(batch), batch.length);
      } catch {
        // The link is gone; its close event ends the devices.
      }
    }
  }
}

/** Chunk objects get a number each, so that "the same chunks" is a string key. */
const chunkIds = new WeakMap<Uint8Array, number>();
let nextChunkId = 1;

/**
 * Which bytes, in which order, with a packet id patched in where: devices
 * of equal shape can share one FANOUT. Undefined when no chunk is an
 * encoding several subscribers got: then no other device can match.
 */
function shapeOf(chunks: readonly OutgoingChunk[]): string | undefined {
  if (!chunks.some((chunk) => isSharedEncoding(chunk.bytes))) return undefined;
  let key = '';
  for (const chunk of chunks) {
    let id = chunkIds.get(chunk.bytes);
    if (id === undefined) {
      id = nextChunkId++;
      chunkIds.set(chunk.bytes, id);
    }
    key += chunk.packetId === undefined ? `${id},` : `${id}p,`;
  }
  return key;
}

/** One device's bytes: its chunks, each with its own packet id patched in. */
function bytesOf(chunks: readonly OutgoingChunk[]): Uint8Array {
  const parts = chunks.map((chunk) => (chunk.packetId === undefined ? chunk.bytes : withPacketId(chunk.bytes, chunk.packetId)));
  return parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts);
}
