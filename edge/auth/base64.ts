/**
 * Standard base64 (RFC 4648 §4, `+/` alphabet, `=` padding) as mosquitto's
 * password files use it. Strict on purpose: `atob` alone skips whitespace
 * and accepts missing padding, and a hash that only decodes by luck should
 * be reported, not verified against.
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
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Padded standard base64 of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
