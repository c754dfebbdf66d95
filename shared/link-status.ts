/**
 * What a sidecar tells its edge about itself in a STATUS frame of the link
 * (docs/link-protocol.md, version 2): the broker bridges it runs (mosquitto
 * `connection` blocks, sidecar/broker-bridges/), which only the sidecar
 * knows, with each one's state and message counts. JSON inside the frame,
 * so fields can be added without a new link version: a reader takes the
 * fields it knows and ignores the rest.
 *
 * The edge keeps what it reads (in SQLite, beside the link's devices) and
 * shows it in the admin API, so everything is bounded here, on reading:
 * at most MaxBridges bridges, texts cut to MaxTextLength.
 */

/** A bridge's state: both connections up, a connection being made, or waiting to retry after a failure. */
export type BridgeState = 'connected' | 'connecting' | 'backing-off';

export interface BridgeStatus {
  /** The `connection` block's name. */
  name: string;
  /** The remote broker's address in use or being tried (`host:port`). */
  remote: string;
  state: BridgeState;
  /** Since when it is in this state (ms since the epoch, the sidecar's clock). */
  since: number;
  /** Messages carried from the remote broker to this one, and from this one to the remote, since the sidecar started. */
  messagesIn: number;
  messagesOut: number;
  /** Why the last attempt failed or the last connection was lost, while not connected. */
  error?: string;
}

export interface LinkStatus {
  bridges: BridgeStatus[];
}

export const MaxBridges = 64;
const MaxTextLength = 200;
const States: readonly string[] = ['connected', 'connecting', 'backing-off'] satisfies BridgeState[];

export function encodeLinkStatus(status: LinkStatus): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(status));
}

/**
 * Reads a STATUS frame's body. Undefined when it is not JSON of the right
 * shape; unknown fields are dropped, texts cut, the list bounded.
 */
export function decodeLinkStatus(body: Uint8Array): LinkStatus | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { bridges?: unknown }).bridges)) return undefined;
  const bridges: BridgeStatus[] = [];
  for (const item of (value as { bridges: unknown[] }).bridges.slice(0, MaxBridges)) {
    const bridge = readBridge(item);
    if (bridge === undefined) return undefined;
    bridges.push(bridge);
  }
  return { bridges };
}

function readBridge(item: unknown): BridgeStatus | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const { name, remote, state, since, messagesIn, messagesOut, error } = item as Record<string, unknown>;
  if (typeof name !== 'string' || typeof remote !== 'string' || typeof state !== 'string' || !States.includes(state)) return undefined;
  if (!isCount(since) || !isCount(messagesIn) || !isCount(messagesOut)) return undefined;
  const bridge: BridgeStatus = { name: name.slice(0, MaxTextLength), remote: remote.slice(0, MaxTextLength), state: state as BridgeState, since, messagesIn, messagesOut };
  if (typeof error === 'string' && error !== '') bridge.error = error.slice(0, MaxTextLength);
  return bridge;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
