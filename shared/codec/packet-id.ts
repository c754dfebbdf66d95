/**
 * A copy of an encoded QoS 1/2 PUBLISH with another packet id: it sits
 * right after the topic name, behind the fixed header [MQTT-3.3.2]. One
 * encoding serves every subscriber of a message; each gets its own id.
 *
 * The copy must be a real one. The encoder hands back Node `Buffer`s, and
 * `Buffer#slice` is a view: patching it rewrote the shared encoding and,
 * through it, every earlier subscriber's not yet flushed PUBLISH. Those
 * clients then acknowledged ids they had not been sent and their in-flight
 * windows never emptied (issue 12: a stall after Receive Maximum messages).
 */
export function withPacketId(encoded: Uint8Array, packetId: number): Uint8Array {
  let offset = 1;
  while (((encoded[offset] as number) & 0x80) !== 0) offset++;
  offset++;
  const topicLength = ((encoded[offset] as number) << 8) | (encoded[offset + 1] as number);
  const at = offset + 2 + topicLength;
  const copy = new Uint8Array(encoded);
  copy[at] = packetId >> 8;
  copy[at + 1] = packetId & 0xff;
  return copy;
}
