/**
 * What a namespace's isolate holds, estimated from what it counts. workerd
 * gives a Worker no figure of its own heap (`process.memoryUsage()` reads
 * zeros, `performance.memory` is absent), and the platform ends an object
 * that passes 128 MB: so the namespace adds up what grows with its clients,
 * at costs measured over workerd's inspector (`npm run memory`, `npm run
 * big-namespace`; the budget in docs/design.md, "Memory"). An estimate, to
 * tell an operator how near the limit a namespace is and what fills it; the
 * real heap of a local run is what `npm run memory` reads.
 */

/** The isolate with the broker's code and an idle namespace (measured 3.4 to 3.9 MB). */
export const BaseBytes = 4 * 1024 * 1024;
/** A connected client: its link, session state, decoder and directory entry (measured 0.6 to 0.9 KB). */
export const ConnectionBytes = 900;
/** A subscription in the topic tree (measured 390 bytes). */
export const SubscriptionBytes = 390;
/** An acknowledgement held while its client is slowed: the encoded packet and its slot. */
export const HeldAckBytes = 64;

/** What the namespace counts, as the estimate needs it. */
export interface MemoryCounts {
  connected: number;
  subscriptions: number;
  /** Bytes clients sent that wait to be handled. */
  pendingInputBytes: number;
  /** Bytes of incomplete packets held by decoders. */
  partialBytes: number;
  heldAcks: number;
  /** Output written to connections and not flushed yet. */
  unflushedBytes: number;
}

export interface MemoryEstimate {
  /** The sum, in bytes. */
  estimatedBytes: number;
  /** What the platform allows an isolate. */
  limitBytes: number;
  /** The sum's parts, in bytes. */
  parts: { base: number; connections: number; subscriptions: number; input: number; output: number };
}

/** A Durable Object's isolate on Cloudflare. */
export const IsolateLimitBytes = 128 * 1024 * 1024;

export function estimateMemory(counts: MemoryCounts): MemoryEstimate {
  const parts = {
    base: BaseBytes,
    connections: counts.connected * ConnectionBytes,
    subscriptions: counts.subscriptions * SubscriptionBytes,
    input: counts.pendingInputBytes + counts.partialBytes + counts.heldAcks * HeldAckBytes,
    output: counts.unflushedBytes,
  };
  return { estimatedBytes: parts.base + parts.connections + parts.subscriptions + parts.input + parts.output, limitBytes: IsolateLimitBytes, parts };
}
