/**
 * Follows the packets of a stream from their fixed headers alone, without
 * keeping their bytes, to refuse one larger than the bridge takes as soon as
 * its header announces it. MQTT.js buffers a packet whole before it looks
 * at it, so a remote broker that announces 250 MB would otherwise make the
 * sidecar hold 250 MB. An MQTT 5 remote is told the limit in CONNECT
 * (Maximum Packet Size, which it must not exceed [MQTT-3.1.2-24]); a 3.1 or
 * 3.1.1 remote cannot be told, and is disconnected by this instead.
 */

/** Bytes of a packet's fixed header: the type byte and up to four of Remaining Length. */
const MaxFixedHeaderBytes = 5;

export class PacketSizeGuard {
  /** Bytes of the current packet's body still to pass; -1 while its fixed header is being read. */
  #remaining = -1;
  /** The fixed header read so far (type byte and Remaining Length bytes). */
  #header = 0;
  #length = 0;
  #multiplier = 1;

  constructor(readonly maxPacketSize: number) {}

  /** Follows `chunk`; returns the size of a packet it announces that is too large, else undefined. */
  check(chunk: Uint8Array): number | undefined {
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.#remaining > 0) {
        const skip = Math.min(this.#remaining, chunk.byteLength - at);
        this.#remaining -= skip;
        at += skip;
        if (this.#remaining === 0) this.#remaining = -1;
        continue;
      }
      const byte = chunk[at++] as number;
      this.#header++;
      // The first byte is the packet type; the next ones carry Remaining Length, 7 bits each.
      if (this.#header === 1) continue;
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      // A fifth length byte is malformed: MQTT.js refuses it, so that is not ours to judge; call it too large.
      if ((byte & 0x80) !== 0 && this.#header < MaxFixedHeaderBytes) continue;
      const size = this.#header + this.#length;
      if ((byte & 0x80) !== 0 || size > this.maxPacketSize) return (byte & 0x80) !== 0 ? Number.POSITIVE_INFINITY : size;
      this.#remaining = this.#length === 0 ? -1 : this.#length;
      this.#header = 0;
      this.#length = 0;
      this.#multiplier = 1;
    }
    return undefined;
  }
}
