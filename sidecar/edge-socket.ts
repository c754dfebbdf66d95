/**
 * Opens the WebSocket that carries one device's packets to the edge, with
 * the headers of the edge contract: the bridge secret (when configured) and
 * the device's real address, which the edge believes only with that secret.
 */
import WebSocket from 'ws';
import { BridgeHeader } from '../shared/bridge-secret.ts';

export interface EdgeTarget {
  /** ws:// or wss:// URL; its path selects the broker namespace. */
  url: string;
  /** Shared secret; when absent no secret header is sent at all. */
  secret?: string;
  /** Bound on the whole upgrade (connect, TLS, HTTP 101). */
  handshakeTimeoutMs: number;
}

/** MQTT over WebSocket uses the `mqtt` subprotocol [MQTT-6.0.0-3]. */
export const MQTT_SUBPROTOCOL = 'mqtt';

/**
 * The largest message accepted from the edge. The edge sends whole packets,
 * several at most per message, and its platform caps a message at 32 MiB;
 * this bound only stops a broken peer from making us buffer without limit.
 */
const MAX_EDGE_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Starts the upgrade; the caller listens for 'open', 'error' and 'close'.
 * Without `clientAddress` (a client of the sidecar's own, such as a broker
 * bridge, or the sidecar's link) the edge sees the sidecar's address, which
 * is the truth.
 *
 * @example
 * const ws = openEdgeSocket({ url: 'ws://127.0.0.1:8787/mqtt', handshakeTimeoutMs: 10_000 }, '10.0.0.7:51234');
 */
export function openEdgeSocket(target: EdgeTarget, clientAddress?: string, subprotocol: string | readonly string[] = MQTT_SUBPROTOCOL): WebSocket {
  const headers: Record<string, string> = {};
  if (clientAddress !== undefined) headers[BridgeHeader.ClientAddress] = clientAddress;
  if (target.secret !== undefined) headers[BridgeHeader.Secret] = target.secret;
  // Several subprotocols are offered in order of preference (a link's versions); the server picks one.
  return new WebSocket(target.url, typeof subprotocol === 'string' ? subprotocol : [...subprotocol], {
    headers,
    handshakeTimeout: target.handshakeTimeoutMs,
    // MQTT payloads are often already compressed or tiny; deflate would cost
    // CPU and memory per connection on both ends for little gain.
    perMessageDeflate: false,
    followRedirects: false,
    maxPayload: MAX_EDGE_MESSAGE_BYTES,
    // Binary frames only: there is no UTF-8 to validate.
    skipUTF8Validation: true,
  });
}

/**
 * Formats a peer address as `ip:port` (`[ip]:port` for IPv6), with
 * IPv4-mapped IPv6 addresses shown as plain IPv4.
 */
export function formatAddress(ip: string | undefined, port: number | undefined): string {
  if (ip === undefined) return 'unknown';
  const plain = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice('::ffff:'.length) : ip;
  const host = plain.includes(':') ? `[${plain}]` : plain;
  return port === undefined ? host : `${host}:${port}`;
}

/**
 * One WebSocket message from the packets of one read. Packets that lie back
 * to back in the same chunk (the common case) go as one view, without a copy
 * here; ws copies once anyway, to mask.
 */
export function toEdgeMessage(packets: readonly Uint8Array[]): Buffer {
  const first = packets[0] as Uint8Array;
  let end = first.byteOffset + first.byteLength;
  let contiguous = true;
  for (let i = 1; i < packets.length && contiguous; i++) {
    const next = packets[i] as Uint8Array;
    contiguous = next.buffer === first.buffer && next.byteOffset === end;
    end += next.byteLength;
  }
  if (contiguous) return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
  return Buffer.concat(packets);
}
