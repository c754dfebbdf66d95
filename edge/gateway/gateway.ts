/**
 * A gateway object's work (docs/scale.md): it holds a namespace's client
 * WebSockets near the clients and carries their packets to the namespace's
 * core as the channels of one link (the frames of docs/link-protocol.md),
 * in batched calls; it writes what the core sends back to the sockets. It
 * knows nothing of MQTT beyond the frames: sessions, routing, access, wills
 * and keep-alive stay in the core, so the broker behaves as one object.
 *
 * Its only state is each socket's channel number, in the socket's
 * attachment: a gateway hibernates and wakes with its clients, and writes
 * no storage.
 *
 * What clients send waits in a queue per client (fair-input.ts): each call
 * carries a fair share of each one's bytes, within the credit the core
 * returns per client, so a client that floods holds up only itself. Its
 * queue is bounded: a WebSocket cannot be read more slowly, so a client
 * whose unsent input passes the bound has it dropped and is ended by the
 * core as one of its own past MQTT_MAX_PENDING_BYTES is (DISCONNECT 0x96):
 * the shape of the namespace changes nothing a client sees.
 */
import { BridgeCloseCode } from '../../shared/bridge-close-codes.ts';
import { LinkProtocolError, decodeLinkFrames, fanoutBytesFor, type LinkFrame } from '../../shared/link-protocol.ts';
import { defaultFlowControl, linkWindowsOf, type LinkWindows } from '../link/flow-control.ts';
import { BatchedCalls, CallTimeoutMs } from './batched-calls.ts';
import { FairInput } from './fair-input.ts';

export interface GatewaySocket {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

/** What a gateway client's WebSocket attachment holds. */
export interface GatewayClientAttachment {
  v: 1;
  kind: 'gateway-client';
  /** The gateway's object name: events after a wake do not tell it otherwise. */
  gateway: string;
  channel: number;
}

/** The core, as a gateway calls it. */
export interface GatewayCoreCalls {
  /** One link message of this gateway's channels; `live` (first call after a start) names every channel that still has a socket. */
  frames(message: Uint8Array, live: number[] | undefined): Promise<void>;
}

/** WebSocket close code when the core cannot be reached: the client should come back later. */
const TryAgainLater = 1013;

export interface GatewayOptions {
  /** The windows the core grants this gateway's link and each client (the same configuration as the core's). */
  windows?: LinkWindows;
  /** What the gateway may hold of one client's input (its unsent bytes and what each message costs) before the core ends it. */
  backlogBytes?: number;
  /** A client is being closed for its backlog (for the log). */
  onOverBacklog?: (channel: number, unsentBytes: number) => void;
  /** Channel numbers start at random (tests fix it). */
  random?: () => number;
}

export class Gateway<S extends GatewaySocket> {
  private readonly sockets = new Map<number, S>();
  /** Clients past their bound, whose input is dropped while the core ends them. */
  private readonly refused = new Set<number>();
  private nextChannel: number;
  /** Whether the core has heard which channels survived this instance's start. */
  private synced = false;
  private readonly calls: BatchedCalls;
  private readonly input: FairInput;
  private readonly backlogBytes: number;
  private readonly onOverBacklog: (channel: number, unsentBytes: number) => void;

  constructor(
    readonly name: string,
    existing: Iterable<{ socket: S; channel: number }>,
    private readonly core: GatewayCoreCalls,
    private readonly onCoreLost: (error: unknown, clients: number) => void,
    options: GatewayOptions = {},
  ) {
    for (const { socket, channel } of existing) this.sockets.set(channel, socket);
    // Channels are never reused on purpose, and a restarted gateway does not remember the last one: start at random.
    this.nextChannel = 1 + Math.floor((options.random ?? Math.random)() * 0x7fffffff);
    const windows = options.windows ?? linkWindowsOf(defaultFlowControl);
    this.input = new FairInput(windows);
    this.backlogBytes = options.backlogBytes ?? defaultFlowControl.gatewayClientBacklogBytes;
    this.onOverBacklog = options.onOverBacklog ?? (() => undefined);
    this.calls = new BatchedCalls(
      (message) => {
        const live = this.synced ? undefined : [...this.sockets.keys()];
        this.synced = true;
        return this.core.frames(message, live);
      },
      (error) => this.coreLost(error),
      CallTimeoutMs,
      this.input,
    );
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** A new client socket: its channel (for its attachment); the core hears of it before any of its data. */
  open(socket: S, address: string | undefined): number {
    let channel = this.nextChannel;
    while (channel === 0 || this.sockets.has(channel)) channel = channel >= 0xffffffff ? 1 : channel + 1;
    this.nextChannel = channel >= 0xffffffff ? 1 : channel + 1;
    this.sockets.set(channel, socket);
    void this.forward({ type: 'open', channel, address: address ?? '' });
    return channel;
  }

  /** Bytes from a client; settles when a call carried them to the core (so the event lasts until then). */
  received(channel: number, bytes: Uint8Array): Promise<void> {
    // An empty WebSocket message (MQTT.js sends one for an empty payload) carries nothing; a DATA frame may not be empty.
    if (bytes.byteLength === 0 || !this.sockets.has(channel) || this.refused.has(channel)) return Promise.resolve();
    const carried = this.forward({ type: 'data', channel, bytes });
    const held = this.input.held(channel);
    if (held > this.backlogBytes) {
      // Far past its share, and a WebSocket cannot be read more slowly: what it queued goes, and the core ends it
      // (its DISCONNECT reaches the client, then the core's CLOSE closes the socket).
      this.input.drop(channel);
      this.refused.add(channel);
      this.onOverBacklog(channel, held);
      void this.forward({ type: 'close', channel, code: BridgeCloseCode.TooMuchInput });
    }
    return carried;
  }

  /** Nothing of the clients' waits here or is on its way to the core. */
  get idle(): boolean {
    return this.input.empty && this.calls.idle;
  }

  /** Input of a client not yet carried to the core. */
  unsent(channel: number): number {
    return this.input.unsent(channel);
  }

  /** The client's socket closed (or broke). */
  closed(channel: number): Promise<void> {
    this.refused.delete(channel);
    if (!this.sockets.delete(channel)) return Promise.resolve();
    return this.forward({ type: 'close', channel, code: BridgeCloseCode.DeviceLost });
  }

  /** The gateway closes a client itself (text frame, message too large): a protocol error, like the core's own. */
  refuse(channel: number, code: number, reason: string): Promise<void> {
    const socket = this.sockets.get(channel);
    if (socket === undefined) return Promise.resolve();
    this.sockets.delete(channel);
    safeClose(socket, code, reason);
    return this.forward({ type: 'close', channel, code: BridgeCloseCode.DeviceProtocolError });
  }

  /**
   * A link message from the core: packets to write and channels to close.
   * Returns the channels it named that have no socket here (their clients
   * are gone), so the core ends them rather than wait for them.
   */
  deliver(message: Uint8Array): number[] {
    let frames: LinkFrame[];
    try {
      frames = decodeLinkFrames(message);
    } catch (error) {
      // Our own core wrote it: a bug, not an attack. The clients are not left waiting for what was lost.
      if (!(error instanceof LinkProtocolError)) throw error;
      this.closeAll(1011, 'internal error');
      return [];
    }
    const unknown = new Set<number>();
    const write = (channel: number, bytes: Uint8Array): void => {
      const socket = this.sockets.get(channel);
      if (socket === undefined) {
        unknown.add(channel);
        return;
      }
      try {
        socket.send(bytes);
      } catch {
        // The socket is closing; its close event tells the core.
      }
    };
    for (const frame of frames) {
      switch (frame.type) {
        case 'credit':
          for (const grant of frame.grants) this.input.credit(grant.channel, grant.bytes);
          break;
        case 'data':
          write(frame.channel, frame.bytes);
          break;
        case 'fanout':
          for (const device of frame.devices) write(device.channel, fanoutBytesFor(frame.chunks, device.packetIds));
          break;
        case 'close': {
          const socket = this.sockets.get(frame.channel);
          this.sockets.delete(frame.channel);
          this.refused.delete(frame.channel);
          // The core has ended it: what it still sent goes nowhere.
          this.input.drop(frame.channel);
          if (socket !== undefined) safeClose(socket, frame.code, frame.reason ?? '');
          break;
        }
        case 'hello':
        case 'open':
        case 'window':
        case 'status':
        case 'unknown':
          break;
      }
    }
    // Credit may let queued input go.
    this.calls.wake();
    return [...unknown];
  }

  /**
   * The channels with a socket now. The core asks after each wake: it then
   * has none of this gateway's input in its work (what it had when it stopped
   * is gone with it), so every window is whole again.
   */
  liveChannels(): number[] {
    this.input.resetCredit();
    this.calls.wake();
    return [...this.sockets.keys()];
  }

  /** Closes every client: the core is gone or told the gateway to drop them. */
  closeAll(code: number, reason: string): void {
    const sockets = [...this.sockets.values()];
    for (const channel of this.sockets.keys()) this.input.drop(channel);
    this.sockets.clear();
    this.refused.clear();
    for (const socket of sockets) safeClose(socket, code, reason);
  }

  private forward(frame: Extract<LinkFrame, { type: 'open' | 'data' | 'close' }>): Promise<void> {
    const carried = this.input.push(frame);
    this.calls.wake();
    // A failed call is handled once, in coreLost; each event's own promise need not fail too.
    return carried.catch(() => undefined);
  }

  /**
   * The core could not take a call: what it carried is lost, so its clients
   * are closed (they reconnect and resume their sessions) rather than left
   * with packets that went nowhere.
   */
  private coreLost(error: unknown): void {
    const clients = this.sockets.size;
    this.synced = false;
    this.closeAll(TryAgainLater, 'namespace unreachable, try again');
    this.onCoreLost(error, clients);
  }
}

function safeClose(socket: GatewaySocket, code: number, reason: string): void {
  try {
    socket.close(code, reason);
  } catch {
    // Already closed.
  }
}
