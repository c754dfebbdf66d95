/**
 * Calls from one object to another, one at a time and batched: while a call
 * is on its way, what is sent meanwhile waits and leaves as the next call.
 * So the calls keep their order (a destination applies them in the order
 * they were made), their number follows the destination's pace rather than
 * the message rate, and a slow destination slows its senders instead of
 * piling calls up. Every cross-object call is billed, so this is the cost
 * control as much as the ordering.
 *
 * What is sent are link messages (shared/link-protocol.ts): whole frames,
 * so several of them joined are one message again. What the next call
 * carries is its queue's choice: first come first served by default
 * (FifoCallQueue), a fair share of each client's bytes at a gateway
 * (fair-input.ts).
 */
import { concatBytes } from '../../shared/codec/framer.ts';

/** A call carries at most about this many bytes (one larger message still goes, alone). */
export const MaxCallBytes = 4 * 1024 * 1024;
/**
 * A call not answered in this long has failed: everything behind it waits
 * for it, so one that never settles (its callee gone in a way the runtime
 * did not report) must not hold the clients of a gateway for ever.
 */
export const CallTimeoutMs = 30_000;

export interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** What the next call carries, and whose messages those are. */
export interface CallBatch {
  message: Uint8Array;
  waiters: Waiter[];
}

/** Where the messages wait for a call. */
export interface CallQueue {
  /** Whether a call could carry something now. */
  readonly ready: boolean;
  /** Bytes queued. */
  readonly bytes: number;
  /** The next call's batch, of about `maxBytes` at most (one larger message still goes, alone); only when ready. */
  take(maxBytes: number): CallBatch;
  /** A call failed: everything still queued is dropped with it; returns their waiters. */
  clear(): Waiter[];
}

/** Messages in the order they were sent. */
export class FifoCallQueue implements CallQueue {
  private queue: Uint8Array[] = [];
  private waiters: Waiter[] = [];
  private queuedBytes = 0;

  get ready(): boolean {
    return this.queue.length > 0;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  push(message: Uint8Array, waiter: Waiter): void {
    this.queue.push(message);
    this.queuedBytes += message.byteLength;
    this.waiters.push(waiter);
  }

  take(maxBytes: number): CallBatch {
    let size = 0;
    let count = 0;
    while (count < this.queue.length) {
      const next = (this.queue[count] as Uint8Array).byteLength;
      if (count > 0 && size + next > maxBytes) break;
      size += next;
      count++;
    }
    const parts = this.queue.splice(0, count);
    const waiters = this.waiters.splice(0, count);
    this.queuedBytes -= size;
    return { message: parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts, size), waiters };
  }

  clear(): Waiter[] {
    this.queue = [];
    this.queuedBytes = 0;
    return this.waiters.splice(0);
  }
}

export class BatchedCalls {
  private inFlight = false;
  /** Settles after the call that carries the last message sent so far, whatever its outcome. */
  private last: Promise<void> = Promise.resolve();
  /** Calls made and bytes carried, for the per-object numbers. */
  readonly counts = { calls: 0, bytes: 0 };
  /** Bytes of the call on its way. */
  private carrying = 0;

  constructor(
    /** Delivers one batch; rejects when the destination could not take it. */
    private readonly call: (message: Uint8Array) => Promise<void>,
    /** A call failed: its messages and those queued behind it are dropped, and the owner decides what that ends. */
    private readonly failed: (error: unknown) => void,
    private readonly timeoutMs: number = CallTimeoutMs,
    private readonly queue: CallQueue = new FifoCallQueue(),
  ) {}

  get idle(): boolean {
    return !this.inFlight && !this.queue.ready;
  }

  /** Bytes sent and not yet carried (queued, or in the call on its way): what a destination slower than its senders has let pile up. */
  get backlog(): number {
    return this.queue.bytes + this.carrying;
  }

  /** Queues a message (with the default, first-come queue); the promise settles when the call that carries it has. */
  send(message: Uint8Array): Promise<void> {
    if (!(this.queue instanceof FifoCallQueue)) throw new Error('send() is for a first-come queue: push to your own queue and wake()');
    const queue = this.queue;
    const done = new Promise<void>((resolve, reject) => queue.push(message, { resolve, reject }));
    this.wake();
    this.last = done.catch(() => undefined);
    return done;
  }

  /** The queue has something that can go: a call starts unless one is on its way (it then takes it next). */
  wake(): void {
    if (!this.inFlight && this.queue.ready) void this.pump();
  }

  /** Settles once everything sent so far has been carried (or dropped with a failed call): calls keep their order. */
  settled(): Promise<void> {
    return this.last;
  }

  private async pump(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.queue.ready) {
        const { message, waiters } = this.queue.take(MaxCallBytes);
        try {
          this.counts.calls++;
          this.counts.bytes += message.byteLength;
          this.carrying = message.byteLength;
          await this.callWithin(message);
          this.carrying = 0;
          for (const waiter of waiters) waiter.resolve();
        } catch (error) {
          // What was queued behind the failed call is dropped with it: its order cannot be kept.
          this.carrying = 0;
          const dropped = this.queue.clear();
          for (const waiter of [...waiters, ...dropped]) waiter.reject(error);
          this.failed(error);
        }
      }
    } finally {
      this.inFlight = false;
    }
  }

  private async callWithin(message: Uint8Array): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([this.call(message), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}
