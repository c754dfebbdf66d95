/**
 * What a gateway's clients sent, waiting for a call to the core
 * (docs/scale.md): a queue per client, taken round robin, each call
 * carrying at most a fair share of each client's bytes, and each client's
 * DATA only within the credit the core returned for it (its window; the
 * link's window across all of them). A client that sends faster than the
 * core gets through its share waits here, in its own queue, and holds up
 * no one else: the client next to it gets its bytes into the next call.
 *
 * A WebSocket cannot be read more slowly, so the queue of a client that
 * keeps sending past its share grows; the gateway closes a client whose
 * unsent input passes its bound (gateway.ts). OPEN and CLOSE need no
 * credit, but keep their place in their client's queue: a client's
 * DISCONNECT still reaches the core before its CLOSE.
 */
import { concatBytes } from '../../shared/codec/framer.ts';
import { LinkCreditChannel, encodeLinkFrames, type LinkFrame } from '../../shared/link-protocol.ts';
import type { LinkWindows } from '../link/flow-control.ts';
import type { CallBatch, CallQueue, Waiter } from './batched-calls.ts';

/** Bytes of one client a call carries before the next client's turn (at least one whole message). */
export const ShareBytes = 16 * 1024;

interface Item {
  /** An OPEN or CLOSE frame as encoded; for DATA, the client's bytes (its messages of one turn become one frame). */
  bytes: Uint8Array;
  /** DATA bytes (what credit counts); 0 for OPEN and CLOSE. */
  data: number;
  waiter: Waiter;
}

/** A DATA frame's bytes besides its data: type, channel, length. */
const DataFrameHeader = 9;
/**
 * What a queued message costs the gateway besides its bytes (its entry,
 * and the promise of its event): a client that sends one PINGREQ per
 * WebSocket message holds 2 bytes of data per message but much more
 * memory, and it is memory that the backlog bound is for.
 */
export const QueuedMessageOverheadBytes = 128;

interface ClientInput {
  items: Item[];
  /** DATA bytes queued. */
  unsent: number;
  credit: number;
  /** Its CLOSE is queued: the client is forgotten once that has gone. */
  closing: boolean;
}

export class FairInput implements CallQueue {
  private readonly clients = new Map<number, ClientInput>();
  /** Clients with something queued, in turn order. */
  private readonly turns = new Set<number>();
  private linkCredit: number;
  /** Bytes of every item queued. */
  private queuedBytes = 0;

  constructor(private readonly windows: LinkWindows) {
    this.linkCredit = windows.link;
  }

  /** Queues one frame of a client; the promise settles when a call carried it (or it was dropped). */
  push(frame: Extract<LinkFrame, { type: 'open' | 'data' | 'close' }>): Promise<void> {
    const client = this.clientOf(frame.channel);
    const data = frame.type === 'data' ? frame.bytes.byteLength : 0;
    client.unsent += data;
    if (frame.type === 'close') client.closing = true;
    this.turns.add(frame.channel);
    const bytes = frame.type === 'data' ? frame.bytes : encodeLinkFrames([frame]);
    this.queuedBytes += bytes.byteLength;
    return new Promise<void>((resolve, reject) => client.items.push({ bytes, data, waiter: { resolve, reject } }));
  }

  /** DATA bytes of a client waiting for a call. */
  unsent(channel: number): number {
    return this.clients.get(channel)?.unsent ?? 0;
  }

  /** What a client's queue holds: its bytes, and what each of its messages costs besides. */
  held(channel: number): number {
    const client = this.clients.get(channel);
    return client === undefined ? 0 : client.unsent + client.items.length * QueuedMessageOverheadBytes;
  }

  /**
   * The core processed `bytes` of `channel` (LinkCreditChannel: of the
   * link). Never above the window: credit can only come back for what was
   * sent, and after a reset (resetCredit, or this gateway woke with whole
   * windows) the core may still return what it owed from before.
   */
  credit(channel: number, bytes: number): void {
    if (channel === LinkCreditChannel) this.linkCredit = Math.min(this.windows.link, this.linkCredit + bytes);
    else {
      const client = this.clients.get(channel);
      if (client !== undefined) client.credit = Math.min(this.windows.channel, client.credit + bytes);
    }
  }

  /** Drops what a client has queued (it is being closed); each of its events settles. */
  drop(channel: number): void {
    const client = this.clients.get(channel);
    if (client === undefined) return;
    for (const item of client.items.splice(0)) {
      this.queuedBytes -= item.bytes.byteLength;
      item.waiter.resolve();
    }
    client.unsent = 0;
    this.turns.delete(channel);
  }

  /** The core starts afresh (it restarted, or woke): nothing of ours is in its work, every window is whole again. */
  resetCredit(): void {
    this.linkCredit = this.windows.link;
    for (const client of this.clients.values()) client.credit = this.windows.channel;
  }

  /** Nothing waits for a call. */
  get empty(): boolean {
    return this.turns.size === 0;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  get ready(): boolean {
    for (const channel of this.turns) if (this.canSend(this.clients.get(channel) as ClientInput)) return true;
    return false;
  }

  take(maxBytes: number): CallBatch {
    const parts: Uint8Array[] = [];
    const waiters: Waiter[] = [];
    let size = 0;
    let progressed = true;
    // Rounds over the clients in turn, each giving a share, until the call is full or no one can send.
    while (progressed && size < maxBytes) {
      progressed = false;
      for (const channel of [...this.turns]) {
        const client = this.clients.get(channel) as ClientInput;
        let share = 0;
        // Consecutive messages of the client in its turn go as one DATA frame: a client that sends a packet
        // per WebSocket message (a PINGREQ flood) costs the core one piece of work per turn, not one per message.
        let data: Uint8Array[] = [];
        const endData = (): void => {
          if (data.length === 0) return;
          parts.push(encodeLinkFrames([{ type: 'data', channel, bytes: data.length === 1 ? (data[0] as Uint8Array) : concatBytes(data) }]));
          data = [];
        };
        while (client.items.length > 0 && this.canSend(client)) {
          const next = client.items[0] as Item;
          const cost = next.data > 0 && data.length > 0 ? next.bytes.byteLength : next.bytes.byteLength + (next.data > 0 ? DataFrameHeader : 0);
          if (share > 0 && share + cost > ShareBytes) break;
          if (size > 0 && size + cost > maxBytes) break;
          client.items.shift();
          this.queuedBytes -= next.bytes.byteLength;
          if (next.data > 0) data.push(next.bytes);
          else {
            endData();
            parts.push(next.bytes);
          }
          waiters.push(next.waiter);
          size += cost;
          share += cost;
          client.unsent -= next.data;
          client.credit -= next.data;
          this.linkCredit -= next.data;
        }
        endData();
        if (share > 0) progressed = true;
        // Its next turn is after everyone else's.
        this.turns.delete(channel);
        if (client.items.length > 0) this.turns.add(channel);
        else if (client.closing) this.clients.delete(channel);
        if (size >= maxBytes) break;
      }
    }
    return { message: parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts, size), waiters };
  }

  clear(): Waiter[] {
    const waiters = [...this.clients.values()].flatMap((client) => client.items.map((item) => item.waiter));
    this.clients.clear();
    this.turns.clear();
    this.queuedBytes = 0;
    this.resetCredit();
    return waiters;
  }

  /** OPEN and CLOSE go at once; DATA while the client and the link have credit (the last may overdraw it). */
  private canSend(client: ClientInput): boolean {
    const next = client.items[0];
    if (next === undefined) return false;
    return next.data === 0 || (client.credit > 0 && this.linkCredit > 0);
  }

  private clientOf(channel: number): ClientInput {
    let client = this.clients.get(channel);
    if (client === undefined) {
      client = { items: [], unsent: 0, credit: this.windows.channel, closing: false };
      this.clients.set(channel, client);
    }
    return client;
  }
}
