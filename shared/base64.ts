/**
 * Standard base64 (RFC 4648 §4, `+/` alphabet, `=` padding): the one
 * implementation for mosquitto password hashes, the HTTP API's binary
 * payloads and what the broker keeps as text (wills, partial packets).
 * Decoding is strict on purpose: `atob` alone skips whitespace and accepts
 * missing padding, and a hash that only decodes by luck should be reported,
 * not verified against. Buffer (nodejs_compat on Workers) does the work.
 */

const CanonicalBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes of `text`, or undefined when it is not padded standard base64.
 *
 * @example
 * decodeBase64('AQID'); // Uint8Array [1, 2, 3]
 * decodeBase64('AQI');  // undefined (missing padding)
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!CanonicalBase64.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Padded standard base64 of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
