/**
 * The bridge's connection to this broker as a stream for MQTT.js, over an
 * edge channel like a device's (edge-channel.ts): a channel of the
 * sidecar's link when there is one, else a WebSocket of its own. On the
 * link the bridge is flow-controlled as a device is: what it publishes
 * goes only within the credit the edge grants its channel, so a remote
 * broker that floods the bridge gets no more of the namespace than a
 * device, and waits (relay.ts stops reading it) instead of being buffered.
 *
 * Writes before the channel is open wait for it (MQTT.js writes its
 * CONNECT at once); a write completes once its bytes left for the edge, so
 * the stream's own buffer says when the edge is not taking more.
 */
import { Duplex } from 'node:stream';
import { EdgeCloseCode } from '../close-codes.ts';
import type { EdgeChannel, EdgeDialer } from '../edge-channel.ts';

export function openChannelStream(dial: EdgeDialer): Duplex {
  let channel: EdgeChannel | undefined;
  let failure: Error | undefined;
  /** The one write waiting for the channel to open (a Writable makes one call at a time). */
  let waiting: { bytes: Uint8Array; done: (error?: Error | null) => void } | undefined;

  const stream = new Duplex({
    // As a socket: the edge's end of the channel ends the stream.
    allowHalfOpen: false,
    read() {
      channel?.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      if (channel?.state === 'open') channel.send(chunk, done);
      else waiting = { bytes: chunk, done };
    },
    writev(chunks, done) {
      // The pieces of one packet (or of packets written together) leave as one message.
      const bytes = Buffer.concat(chunks.map(({ chunk }) => chunk as Buffer));
      if (channel?.state === 'open') channel.send(bytes, done);
      else waiting = { bytes, done };
    },
    final(done) {
      channel?.close(EdgeCloseCode.Normal, 'bridge disconnected');
      done();
    },
    destroy(error, done) {
      if (channel !== undefined && channel.state !== 'closed') channel.terminate();
      waiting?.done(error ?? new Error('stream destroyed'));
      waiting = undefined;
      done(error);
    },
  });

  channel = dial(undefined, {
    onOpen: () => {
      const pending = waiting;
      waiting = undefined;
      if (pending !== undefined) channel?.send(pending.bytes, pending.done);
    },
    onMessage: (bytes) => {
      if (!stream.push(bytes)) channel?.pause();
    },
    onProtocolError: (reason) => {
      failure = edgeError(`the edge broke the channel: ${reason}`);
      channel?.terminate();
    },
    onError: (error) => {
      failure ??= error;
    },
    onClose: (code, reason) => {
      if (stream.destroyed) return;
      const error = failure ?? (code === EdgeCloseCode.Normal ? undefined : edgeError(`the edge closed the bridge's connection (${code}${reason === '' ? '' : ` ${reason}`})`));
      stream.push(null);
      stream.destroy(error);
    },
    // The bridge did not take what the edge sent while the remote side was backed up: it starts again.
    onOverflow: (queuedBytes) => stream.destroy(edgeError(`${queuedBytes} bytes from the edge waited for the remote broker: reconnecting`)),
  });
  return stream;
}

/** MQTT.js reports a stream error (its 'error' event, which the bridge logs) only when it has a code. */
function edgeError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_EDGE_CHANNEL' });
}
