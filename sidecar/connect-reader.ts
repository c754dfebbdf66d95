/**
 * The first phase of every device connection: read its CONNECT, and nothing
 * else, within the connect timeout. The sidecar learns the protocol level,
 * keep-alive and client id from it before it opens a WebSocket to the edge,
 * so a device that never speaks MQTT never costs the edge anything.
 */
import type { Socket } from 'node:net';
import { PacketDecoder } from '../shared/codec/decoder.ts';
import type { Frame, PacketFramer } from '../shared/codec/framer.ts';
import { PacketType, type ConnectPacket, type ProtocolLevel } from '../shared/codec/types.ts';
import { protocolError, type MqttError } from '../shared/errors.ts';

export type ConnectOutcome =
  /**
   * `frames` starts with the CONNECT; any packets that came in the same read
   * follow it, and `error` is set if the stream broke after them.
   */
  | { kind: 'connect'; packet: ConnectPacket; level: ProtocolLevel; frames: Frame[]; error: MqttError | undefined }
  /** Broken fixed header, a first packet that is not CONNECT, or a CONNECT that does not parse. */
  | { kind: 'invalid'; error: MqttError }
  | { kind: 'timeout'; bufferedBytes: number }
  /** The caller gave up (the device went away, or the sidecar is shutting down). */
  | { kind: 'aborted' };

export interface ConnectReaderOptions {
  /** Keeps whatever follows the CONNECT for the bridge to go on with. */
  framer: PacketFramer;
  maxPacketSize: number;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * Reads from `socket` until a whole CONNECT arrived, then pauses it and
 * detaches: the caller decides when to read on.
 */
export function readConnect(socket: Socket, options: ConnectReaderOptions): Promise<ConnectOutcome> {
  const { framer, signal } = options;
  return new Promise((resolve) => {
    const finish = (outcome: ConnectOutcome): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      signal.removeEventListener('abort', onAbort);
      socket.pause();
      resolve(outcome);
    };
    const onAbort = (): void => finish({ kind: 'aborted' });
    const onData = (chunk: Buffer): void => {
      const { frames, error } = framer.push(chunk);
      const first = frames[0];
      if (first !== undefined) {
        finish(decodeConnect(first, frames, error, options.maxPacketSize));
      } else if (error !== undefined) {
        finish({ kind: 'invalid', error });
      }
    };
    // A slowloris device trickling bytes must not hold a slot: the clock runs
    // from accept and is not reset by partial data.
    const timer = setTimeout(() => finish({ kind: 'timeout', bufferedBytes: framer.bufferedBytes }), options.timeoutMs);

    if (signal.aborted) {
      finish({ kind: 'aborted' });
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData);
    socket.resume();
  });
}

function decodeConnect(first: Frame, frames: Frame[], trailingError: MqttError | undefined, maxPacketSize: number): ConnectOutcome {
  if (first.type !== PacketType.CONNECT) {
    // [MQTT-3.1.0-1] The first packet sent from the Client to the Server MUST be a CONNECT.
    return { kind: 'invalid', error: protocolError(`first packet has type ${first.type}, not CONNECT`) };
  }
  const decoded = new PacketDecoder({ maxPacketSize }).push(first.bytes);
  if (decoded.error !== undefined) return { kind: 'invalid', error: decoded.error };
  const packet = decoded.packets[0];
  if (packet === undefined || packet.cmd !== 'connect') {
    return { kind: 'invalid', error: protocolError('CONNECT could not be decoded') };
  }
  return { kind: 'connect', packet, level: levelOf(packet), frames, error: trailingError };
}

/** mqtt-packet reports 3.1 as 3, 3.1.1 as 4, 5.0 as 5 (bridge bit already stripped). */
function levelOf(packet: ConnectPacket): ProtocolLevel {
  const version = packet.protocolVersion ?? 4;
  return version === 3 || version === 5 ? version : 4;
}
