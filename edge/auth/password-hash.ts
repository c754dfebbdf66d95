/**
 * The password hashes of mosquitto's password file, as mosquitto 2.0 reads
 * and `mosquitto_passwd` writes them (common/password_mosq.c,
 * src/security_default.c `unpwd__decode_passwords`):
 *
 * - `$6$<salt>$<digest>`: digest = SHA-512(password ‖ salt). Despite the
 *   `$6$` this is *not* sha512-crypt: one plain SHA-512 over the password
 *   bytes followed by the raw salt bytes (mosquitto 1.x default).
 * - `$7$<iterations>$<salt>$<digest>`: digest = PBKDF2-HMAC-SHA512(password,
 *   salt, iterations), 64 bytes (the default since mosquitto 2.0, with 101
 *   iterations).
 *
 * Salt and digest are padded standard base64; mosquitto rejects a salt that
 * is not 12 bytes or a digest that is not 64, and so do we.
 *
 * Only WebCrypto is used, so this runs in workerd and in Node alike.
 */
import { decodeBase64, encodeBase64 } from '../../shared/base64.ts';

/** Salt length mosquitto writes and insists on when reading. */
export const SaltBytes = 12;
/** SHA-512 output, and the PBKDF2 key length mosquitto asks for. */
export const DigestBytes = 64;
/** `mosquitto_passwd` default for `$7$` (PW_DEFAULT_ITERATIONS in mosquitto 2.0). */
export const DefaultIterations = 101;
/**
 * Cloudflare's production runtime refuses PBKDF2 above 100,000 iterations
 * (`checkPbkdfLimits`, cloudflare/workerd#1346; local workerd has no cap, so
 * tests would not notice). A hash asking for more could never be verified at
 * the edge: reject it when the file is loaded rather than failing every login.
 */
export const MaxIterations = 100_000;

/** How a digest is computed from a password: the scheme and its inputs besides the password. */
export type HashParameters =
  | { readonly kind: 'sha512'; readonly salt: Uint8Array }
  | { readonly kind: 'sha512-pbkdf2'; readonly iterations: number; readonly salt: Uint8Array };

/** One stored hash: the parameters and the digest the right password gives. */
export type PasswordHash = HashParameters & { readonly digest: Uint8Array };

export type PasswordHashParse = { ok: true; hash: PasswordHash } | { ok: false; problem: string };

/**
 * Reads the hash half of a password file line (after `username:`). The
 * problem text never quotes the hash itself.
 *
 * @example
 * parsePasswordHash('$7$101$CJ336wL5IUyhT34o$FHnG…VQ==');
 * // { ok: true, hash: { kind: 'sha512-pbkdf2', iterations: 101, salt, digest } }
 */
export function parsePasswordHash(text: string): PasswordHashParse {
  const fields = text.split('$');
  // A leading '$' makes fields[0] empty: ['', '6', salt, digest] or ['', '7', iterations, salt, digest].
  if (fields[0] !== '' || fields.length < 2) {
    return { ok: false, problem: 'password is not a mosquitto hash ($6$… or $7$…); plain-text passwords are not supported' };
  }
  const type = fields[1];
  if (type === '6') {
    if (fields.length !== 4) return { ok: false, problem: 'a $6$ hash has the form $6$<salt>$<digest>' };
    return withSaltAndDigest(fields[2]!, fields[3]!, (salt, digest) => ({ kind: 'sha512', salt, digest }));
  }
  if (type === '7') {
    if (fields.length !== 5) return { ok: false, problem: 'a $7$ hash has the form $7$<iterations>$<salt>$<digest>' };
    const iterations = parseIterations(fields[2]!);
    if (typeof iterations === 'string') return { ok: false, problem: iterations };
    return withSaltAndDigest(fields[3]!, fields[4]!, (salt, digest) => ({ kind: 'sha512-pbkdf2', iterations, salt, digest }));
  }
  // Quote the type only when it looks like one: a plain-text password that starts with '$' must not reach the logs.
  const shown = type !== undefined && /^[0-9a-z-]{1,16}$/.test(type) ? ` $${type}$` : '';
  return { ok: false, problem: `unknown hash type${shown} (expected $6$ or $7$)` };
}

function parseIterations(text: string): number | string {
  if (!/^[0-9]{1,9}$/.test(text)) return 'iteration count is not a number';
  const iterations = Number(text);
  if (iterations < 1) return 'iteration count must be at least 1';
  if (iterations > MaxIterations) return `iteration count ${iterations} is above ${MaxIterations}, the most Cloudflare Workers' PBKDF2 supports`;
  return iterations;
}

function withSaltAndDigest(
  saltText: string,
  digestText: string,
  build: (salt: Uint8Array, digest: Uint8Array) => PasswordHash,
): PasswordHashParse {
  const salt = decodeBase64(saltText);
  if (salt === undefined) return { ok: false, problem: 'salt is not valid base64' };
  if (salt.length !== SaltBytes) return { ok: false, problem: `salt is ${salt.length} bytes, mosquitto uses ${SaltBytes}` };
  const digest = decodeBase64(digestText);
  if (digest === undefined) return { ok: false, problem: 'digest is not valid base64' };
  if (digest.length !== DigestBytes) return { ok: false, problem: `digest is ${digest.length} bytes, expected ${DigestBytes}` };
  return { ok: true, hash: build(salt, digest) };
}

/** The text mosquitto stores for `hash` (without the `username:` prefix). */
export function formatPasswordHash(hash: PasswordHash): string {
  const salt = encodeBase64(hash.salt);
  const digest = encodeBase64(hash.digest);
  return hash.kind === 'sha512' ? `$6$${salt}$${digest}` : `$7$${hash.iterations}$${salt}$${digest}`;
}

/**
 * The digest `password` gives under `parameters`; compare it with a stored
 * `PasswordHash.digest` in constant time.
 */
export async function digestPassword(password: Uint8Array, parameters: HashParameters): Promise<Uint8Array> {
  if (parameters.kind === 'sha512') {
    const input = new Uint8Array(password.length + parameters.salt.length);
    input.set(password, 0);
    input.set(parameters.salt, password.length);
    return new Uint8Array(await crypto.subtle.digest('SHA-512', input));
  }
  const key = await crypto.subtle.importKey('raw', ownBuffer(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-512', salt: ownBuffer(parameters.salt), iterations: parameters.iterations },
    key,
    DigestBytes * 8,
  );
  return new Uint8Array(bits);
}

/**
 * A copy on a plain ArrayBuffer: the DOM typings of WebCrypto refuse a view
 * that might sit on a SharedArrayBuffer, which a bare `Uint8Array` may.
 */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/**
 * A new `$7$` hash of `password` with a fresh random salt, as
 * `mosquitto_passwd` would write it.
 *
 * @example
 * formatPasswordHash(await createPbkdf2Hash(new TextEncoder().encode('secret')));
 * // '$7$101$<16 chars>$<88 chars>'
 */
export async function createPbkdf2Hash(password: Uint8Array, iterations: number = DefaultIterations): Promise<PasswordHash> {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MaxIterations) {
    throw new RangeError(`iterations must be an integer in 1..${MaxIterations}`);
  }
  const salt = crypto.getRandomValues(new Uint8Array(SaltBytes));
  const digest = await digestPassword(password, { kind: 'sha512-pbkdf2', salt, iterations });
  return { kind: 'sha512-pbkdf2', iterations, salt, digest };
}
