/**
 * A namespace's thread, shared fairly among its connections. The platform
 * cannot slow a WebSocket's sender (a hibernatable socket's messages arrive
 * whether the object is ready for them or not), so the namespace keeps
 * account of what each connection has sent that it has not handled yet,
 * and:
 * - serves connections in turns (Connections yields between them), so a
 *   burst from one delays the others by a turn, not by the burst;
 * - when it falls behind (what waits is older than BehindMs), slows the
 *   connections with more than their share waiting: their QoS 1/2
 *   acknowledgements are held (a client stops at its window: Receive
 *   Maximum in 5.0, its own in-flight limit in 3.x), and their QoS 0
 *   messages, which nothing can slow, are dropped and counted;
 * - closes only a connection whose unhandled input passes a bound no
 *   well-behaved client reaches (MQTT_MAX_PENDING_BYTES): DISCONNECT 0x96;
 *   and, when what all connections hold (their waiting input and their
 *   incomplete packets) passes the namespace's bound
 *   (MQTT_MAX_NAMESPACE_PENDING_BYTES), the connection holding the most:
 *   DISCONNECT 0x97. Many connections each under their own bound must not
 *   add up past the isolate's memory.
 * Clients that wait for their answers (every ordinary client: a window of
 * messages in flight) never have more than a little waiting, and are never
 * slowed, however fast they are.
 */

/** The namespace is behind when the oldest input waiting arrived this long ago. */
export const BehindMs = 100;
/** Waiting input below this is never over its share: a client's window of small messages. */
export const ShareFloorBytes = 64 * 1024;

/** What a connection has sent and the namespace has not handled yet, and what slowing it did. */
export interface InputAccount {
  pendingBytes: number;
  /** Bytes of an incomplete packet held in memory (its decoder's buffer). */
  partialBytes: number;
  /** Arrival times of the messages still waiting, oldest first (from `head`). */
  arrivals: number[];
  head: number;
  /** Acknowledgements held while slowed, in order. */
  heldAcks: Uint8Array[];
  /** Totals since the connection was accepted (memory only). */
  droppedQos0: number;
  heldAcksTotal: number;
  /** QoS 1/2 messages that waited for a publish rate (publish-rate.ts). */
  delayedPublishes: number;
  /** Its input waits for a publish rate, by the quota's choice: not a sign the namespace is behind. */
  paused: boolean;
  slowedMs: number;
  slowedSince: number | undefined;
}

/** A connection, as far as its fair share goes. */
export interface Sender {
  readonly input: InputAccount;
}

export function newInputAccount(): InputAccount {
  return { pendingBytes: 0, partialBytes: 0, arrivals: [], head: 0, heldAcks: [], droppedQos0: 0, heldAcksTotal: 0, delayedPublishes: 0, paused: false, slowedMs: 0, slowedSince: undefined };
}

export class FairShare {
  /** Connections with input waiting. */
  private readonly waiting = new Set<Sender>();
  private totalPending = 0;
  /** Connections holding an incomplete packet, and its bytes in all. */
  private readonly partial = new Set<Sender>();
  private totalPartial = 0;

  constructor(
    private readonly now: () => number,
    private readonly maxPendingBytes: () => number,
    /** What all connections may hold together; 0: no bound. */
    private readonly maxNamespacePendingBytes: () => number = () => 0,
  ) {}

  /** A message of `bytes` arrived for `link`; false when its waiting input would pass the bound. */
  arrived(link: Sender, bytes: number): boolean {
    const input = link.input;
    if (input.pendingBytes + bytes > this.maxPendingBytes()) return false;
    input.pendingBytes += bytes;
    input.arrivals.push(this.now());
    this.totalPending += bytes;
    this.waiting.add(link);
    return true;
  }

  /** The oldest waiting message of `link` (of `bytes`) has been handled. */
  handled(link: Sender, bytes: number): void {
    // Forgotten (closed) while its input was being handled: nothing of it counts any more.
    if (!this.waiting.has(link)) return;
    const input = link.input;
    input.pendingBytes -= bytes;
    this.totalPending -= bytes;
    input.head++;
    // Compacted now and then, so a long-lived connection's list does not grow.
    if (input.head > 64 && input.head * 2 > input.arrivals.length) {
      input.arrivals.splice(0, input.head);
      input.head = 0;
    }
    if (input.pendingBytes <= 0) {
      input.pendingBytes = 0;
      input.arrivals.length = 0;
      input.head = 0;
      this.waiting.delete(link);
    }
  }

  /** The connection is gone: its waiting input no longer counts. */
  forget(link: Sender): void {
    this.holdsPartial(link, 0);
    if (!this.waiting.delete(link)) return;
    this.totalPending -= link.input.pendingBytes;
    link.input.pendingBytes = 0;
  }

  /** `link`'s decoder holds `bytes` of an incomplete packet (0: none). */
  holdsPartial(link: Sender, bytes: number): void {
    const input = link.input;
    this.totalPartial += bytes - input.partialBytes;
    input.partialBytes = bytes;
    if (bytes > 0) this.partial.add(link);
    else this.partial.delete(link);
  }

  /** Bytes of incomplete packets held by all connections. */
  get partialBytes(): number {
    return this.totalPartial;
  }

  /**
   * When all connections together hold more than the namespace's bound,
   * the one holding the most (waiting input and incomplete packet), to be
   * closed; otherwise undefined. Runs only past the bound, so its walk
   * over the connections holding something costs nothing in ordinary times.
   */
  overNamespaceBound(): Sender | undefined {
    const bound = this.maxNamespacePendingBytes();
    if (bound <= 0 || this.totalPending + this.totalPartial <= bound) return undefined;
    let heaviest: Sender | undefined;
    let most = -1;
    for (const set of [this.waiting, this.partial]) {
      for (const link of set) {
        const held = link.input.pendingBytes + link.input.partialBytes;
        if (held > most) {
          most = held;
          heaviest = link;
        }
      }
    }
    return heaviest;
  }

  /** `link`'s input waits for a publish rate: its age does not make the namespace behind. */
  pause(link: Sender): void {
    link.input.paused = true;
  }

  resume(link: Sender): void {
    link.input.paused = false;
  }

  /** How long the oldest waiting input has waited, in ms (0 when nothing waits); input paused by a publish rate does not count. */
  lagMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const link of this.waiting) {
      if (link.input.paused) continue;
      const at = link.input.arrivals[link.input.head];
      if (at !== undefined && at < oldest) oldest = at;
    }
    return oldest === Number.POSITIVE_INFINITY ? 0 : Math.max(0, this.now() - oldest);
  }

  get isBehind(): boolean {
    return this.waiting.size > 0 && this.lagMs() > BehindMs;
  }

  /** Bytes waiting in all connections. */
  get pendingBytes(): number {
    return this.totalPending;
  }

  /**
   * Whether `link` is to be slowed now: the namespace is behind, and it has
   * more than a window's worth waiting and at least the average of those
   * with input waiting (the heaviest always has; one alone, too, since it
   * is the one the namespace is behind with).
   */
  slows(link: Sender): boolean {
    const pending = link.input.pendingBytes;
    if (pending <= ShareFloorBytes || this.waiting.size === 0) return false;
    return pending * this.waiting.size >= this.totalPending && this.isBehind;
  }

  /** `link` is being slowed (a held acknowledgement, a dropped message): its slowed time starts, if it had not. */
  noteSlowed(link: Sender): void {
    link.input.slowedSince ??= this.now();
  }

  /** `link` is no longer slowed: its held acknowledgements, to send now, in order. */
  release(link: Sender): Uint8Array[] {
    const input = link.input;
    if (input.slowedSince !== undefined) {
      input.slowedMs += this.now() - input.slowedSince;
      input.slowedSince = undefined;
    }
    return input.heldAcks.splice(0);
  }
}
