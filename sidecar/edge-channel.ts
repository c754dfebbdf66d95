/**
 * What a device's bridge talks to on the edge side: one channel per device,
 * either a WebSocket of its own (per-device mode) or a channel of the
 * sidecar's shared link (edge-link.ts). The bridge sees the same events and
 * the same backpressure either way, so the device's semantics do not depend
 * on which carries it.
 */
import WebSocket from 'ws';
import { openEdgeSocket, type EdgeTarget } from './edge-socket.ts';

export interface EdgeChannelEvents {
  /** The channel can carry packets. */
  onOpen(): void;
  /** Whole MQTT packets from the edge, one or more. */
  onMessage(bytes: Buffer): void;
  /** The edge broke the channel's contract (e.g. a text frame); the channel is closed next. */
  onProtocolError(reason: string): void;
  /** Details of a failure; `onClose` always follows. */
  onError(error: Error): void;
  /** The channel is gone. 1006 means it was lost without a word from the edge. */
  onClose(code: number, reason: string): void;
  /**
   * Only on the shared link: the device did not take what the edge sent
   * for longer than its queue allows, and cannot be paused without pausing
   * every other device. The bridge drops it.
   */
  onOverflow?(queuedBytes: number): void;
}

export interface EdgeChannel {
  readonly state: 'connecting' | 'open' | 'closed';
  /** Bytes sent by this device and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** The device's packets wait for the edge's credit (docs/link-protocol.md): the device is not read meanwhile. */
  readonly awaitingCredit: boolean;
  /** Bytes from the edge held here for the device while it is paused. */
  readonly queuedForDevice: number;
  /** Sends whole packets; `written` runs once they left (or could not). */
  send(bytes: Uint8Array, written: (error?: Error | null) => void): void;
  /** Stop delivering messages from the edge (the device is backed up). */
  pause(): void;
  resume(): void;
  /** Ends the channel; `onClose` follows once the edge has answered (or the channel is cut). */
  close(code: number, reason: string): void;
  /** Cuts the channel at once. */
  terminate(): void;
}

/**
 * Opens the channel of one device; `address` is the device's, forwarded to
 * the edge. A client of the sidecar's own (a broker bridge) claims none: the
 * edge then sees the sidecar's.
 */
export type EdgeDialer = (address: string | undefined, events: EdgeChannelEvents) => EdgeChannel;

/** Per-device mode: each device gets its own WebSocket to the edge. */
export function webSocketDialer(target: EdgeTarget): EdgeDialer {
  return (address, events) => new WebSocketChannel(openEdgeSocket(target, address), events);
}

class WebSocketChannel implements EdgeChannel {
  constructor(
    private readonly ws: WebSocket,
    events: EdgeChannelEvents,
  ) {
    ws.on('open', () => events.onOpen());
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        events.onProtocolError('text frame from the edge');
        return;
      }
      events.onMessage(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    ws.on('error', (error) => events.onError(error));
    ws.on('close', (code, reason) => events.onClose(code, reason.toString()));
  }

  get state(): 'connecting' | 'open' | 'closed' {
    if (this.ws.readyState === WebSocket.CONNECTING) return 'connecting';
    return this.ws.readyState === WebSocket.OPEN ? 'open' : 'closed';
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** A WebSocket of its own has no credit: its socket's buffer (bufferedAmount) is the backpressure. */
  get awaitingCredit(): boolean {
    return false;
  }

  /** The WebSocket is paused instead: what the edge sends waits in the network. */
  get queuedForDevice(): number {
    return 0;
  }

  send(bytes: Uint8Array, written: (error?: Error | null) => void): void {
    this.ws.send(bytes, written);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
      return;
    }
    if (this.ws.readyState !== WebSocket.OPEN) return;
    // Read on, so the edge's close reply is seen even if the device had stalled us.
    this.ws.resume();
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}
