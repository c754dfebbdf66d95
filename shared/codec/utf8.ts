/**
 * Strict validation of MQTT UTF-8 Encoded Strings (spec 1.5.4).
 *
 * Buffer#toString('utf8') (what mqtt-packet uses) silently turns bad bytes
 * into U+FFFD, so the codec checks the raw bytes first. A hand-written loop
 * instead of a fatal TextDecoder: topics are short and mostly ASCII, and the
 * loop also rejects U+0000, which TextDecoder accepts.
 */

/**
 * True if bytes[start, end) are well-formed UTF-8 (RFC 3629: no overlong
 * forms, nothing above U+10FFFF) with no surrogate code points U+D800..U+DFFF
 * [MQTT-1.5.4-1] and no U+0000 [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-1/2]).
 */
export function isValidMqttUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b0 = bytes[i] as number;
    if (b0 < 0x80) {
      if (b0 === 0) return false;
      i += 1;
      continue;
    }
    // 0x80..0xBF are continuation bytes; 0xC0/0xC1 could only start overlong 2-byte forms.
    if (b0 < 0xc2) return false;
    if (b0 < 0xe0) {
      if (i + 1 >= end || !isContinuation(bytes[i + 1] as number)) return false;
      i += 2;
      continue;
    }
    if (b0 < 0xf0) {
      if (i + 2 >= end) return false;
      const b1 = bytes[i + 1] as number;
      if (!isContinuation(b1) || !isContinuation(bytes[i + 2] as number)) return false;
      if (b0 === 0xe0 && b1 < 0xa0) return false; // overlong: below U+0800
      if (b0 === 0xed && b1 >= 0xa0) return false; // U+D800..U+DFFF surrogates
      i += 3;
      continue;
    }
    if (b0 < 0xf5) {
      if (i + 3 >= end) return false;
      const b1 = bytes[i + 1] as number;
      if (!isContinuation(b1) || !isContinuation(bytes[i + 2] as number) || !isContinuation(bytes[i + 3] as number)) {
        return false;
      }
      if (b0 === 0xf0 && b1 < 0x90) return false; // overlong: below U+10000
      if (b0 === 0xf4 && b1 >= 0x90) return false; // above U+10FFFF
      i += 4;
      continue;
    }
    // 0xF5..0xFF never appear in UTF-8.
    return false;
  }
  return true;
}

function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}
