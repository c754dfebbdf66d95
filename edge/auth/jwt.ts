/**
 * JWT authentication: a client presents a signed token (typically as its
 * CONNECT password) and gets its identity and, optionally, the topic
 * filters it may publish and subscribe to.
 *
 * Keys and algorithms are fixed when the verifier is made, never taken from
 * the token: HS256 with a shared secret, or RS256/ES256 with the public keys
 * of a JWKS. `alg: none`, and HS256 against a JWKS (the classic "public key
 * used as HMAC secret" confusion), are refused.
 *
 * Claims read, besides the registered ones jose checks (`exp`, `nbf`,
 * `iss`, `aud`):
 *   sub                 → `subject`
 *   mqtt.publish        → `publish`   (array of topic filters)
 *   mqtt.subscribe      → `subscribe` (array of topic filters)
 *   mqtt.namespaces     → `namespaces` (array of namespace names and prefix* patterns
 *                         the token is valid in; absent: every namespace)
 * Only the namespaced `mqtt` object is read; top-level `publish` /
 * `subscribe` claims are ignored, so that unrelated claims of the same name
 * in tokens issued for other services cannot grant MQTT access. An absent
 * list means the token says nothing about that direction (the broker's own
 * policy decides); an empty list means nothing is allowed.
 *
 * `exp` is required: a token without one would be valid forever.
 */
import { createLocalJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { validateTopicFilter } from '../../shared/topic.ts';

export interface JwtVerifierOptions {
  /** Shared secret for HS256, at least 32 bytes of UTF-8 (RFC 7518 §3.2: a key as long as the hash). */
  secret?: string;
  /** JSON text of a JWK Set holding public keys, for RS256 and ES256. */
  jwks?: string;
  /** When given, the token's `iss` must equal it. */
  issuer?: string;
  /** When given, the token's `aud` must be or contain it. */
  audience?: string;
}

export type JwtFailure = 'expired' | 'invalid-signature' | 'malformed' | 'claims';

export type JwtResult =
  | { ok: true; subject?: string; publish?: string[]; subscribe?: string[]; namespaces?: string[] }
  | { ok: false; reason: JwtFailure };

/** Checks one token; `now` replaces the clock (tests, replays of logs). */
export type JwtVerifier = (token: string, now?: Date) => Promise<JwtResult>;

type VerificationKey = Uint8Array | JWTVerifyGetKey;

const MinSecretBytes = 32;

/**
 * Makes a verifier for one key configuration. Exactly one of `secret` and
 * `jwks` must be given.
 *
 * @throws {TypeError} when the options are not usable (neither or both key
 *   sources, a short secret, JWKS text that is not a JWK Set of public keys).
 *
 * @example
 * const verify = createJwtVerifier({ secret: env.MQTT_JWT_SECRET, issuer: 'https://auth.example.com' });
 * const result = await verify(new TextDecoder().decode(ctx.password));
 * if (!result.ok) return { allow: false, reason: 'bad-credentials' };
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const { key, algorithms } = keyFromOptions(options);
  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    requiredClaims: ['exp'],
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    ...(options.audience !== undefined && { audience: options.audience }),
  };

  return async (token, now) => {
    const optionsNow: JWTVerifyOptions = now === undefined ? verifyOptions : { ...verifyOptions, currentDate: now };
    try {
      return readClaims(await verifyWithKey(token, key, optionsNow));
    } catch (error) {
      return { ok: false, reason: classifyFailure(error) };
    }
  };
}

function keyFromOptions(options: JwtVerifierOptions): { key: VerificationKey; algorithms: string[] } {
  if ((options.secret === undefined) === (options.jwks === undefined)) {
    throw new TypeError('createJwtVerifier: give exactly one of `secret` (HS256) and `jwks` (RS256/ES256)');
  }
  if (options.secret !== undefined) {
    const secret = new TextEncoder().encode(options.secret);
    if (secret.length < MinSecretBytes) {
      throw new TypeError(`createJwtVerifier: an HS256 secret must be at least ${MinSecretBytes} bytes`);
    }
    return { key: secret, algorithms: ['HS256'] };
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(options.jwks!);
  } catch (cause) {
    throw new TypeError('createJwtVerifier: `jwks` is not valid JSON', { cause });
  }
  if (!isPublicKeySet(jwks)) {
    throw new TypeError('createJwtVerifier: `jwks` must be a JWK Set ({"keys": [...]}) of public keys only');
  }
  try {
    return { key: createLocalJWKSet(jwks), algorithms: ['RS256', 'ES256'] };
  } catch (cause) {
    throw new TypeError('createJwtVerifier: `jwks` is not a valid JWK Set', { cause });
  }
}

/**
 * A `{ keys: [...] }` object whose keys carry no private or secret part: a
 * private key pasted into configuration by mistake should be refused, not
 * quietly used as a public one (jose would only complain at the first login).
 */
function isPublicKeySet(value: unknown): value is { keys: Record<string, unknown>[] } {
  if (typeof value !== 'object' || value === null || !('keys' in value) || !Array.isArray(value.keys)) return false;
  return value.keys.every(
    (key: unknown) => typeof key === 'object' && key !== null && !('d' in key) && !('k' in key),
  );
}

/**
 * jwtVerify, plus the case jose leaves to the caller: several keys of the
 * set fit the token (same algorithm, no `kid`), so each is tried in turn.
 */
async function verifyWithKey(token: string, key: VerificationKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, key, options)).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let lastError: unknown = error;
    for await (const candidate of error) {
      try {
        return (await jwtVerify(token, candidate, options)).payload;
      } catch (candidateError) {
        // jose checks the signature before the claims: any other failure means this key
        // verified the token, and its verdict (expired, bad claims) is the answer.
        lastError = candidateError;
        if (!(candidateError instanceof errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw lastError;
  }
}

function readClaims(payload: JWTPayload): JwtResult {
  const claims: { ok: true; subject?: string; publish?: string[]; subscribe?: string[]; namespaces?: string[] } = { ok: true };
  if (payload.sub !== undefined) {
    if (typeof payload.sub !== 'string') return { ok: false, reason: 'claims' };
    claims.subject = payload.sub;
  }
  const mqtt = payload['mqtt'];
  if (mqtt === undefined) return claims;
  if (typeof mqtt !== 'object' || mqtt === null || Array.isArray(mqtt)) return { ok: false, reason: 'claims' };

  for (const direction of ['publish', 'subscribe'] as const) {
    const list: unknown = (mqtt as Record<string, unknown>)[direction];
    if (list === undefined) continue;
    if (!isFilterList(list)) return { ok: false, reason: 'claims' };
    claims[direction] = [...list];
  }
  const namespaces: unknown = (mqtt as Record<string, unknown>)['namespaces'];
  if (namespaces !== undefined) {
    if (!Array.isArray(namespaces) || !namespaces.every((name) => typeof name === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\*?$|^\*$/.test(name))) return { ok: false, reason: 'claims' };
    claims.namespaces = [...(namespaces as string[])];
  }
  return claims;
}

function isFilterList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((filter) => typeof filter === 'string' && validateTopicFilter(filter));
}

/** Maps jose's errors to the four reasons; anything else is a bug and propagates. */
function classifyFailure(error: unknown): JwtFailure {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) return 'claims';
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JOSEAlgNotAllowed ||
    error instanceof errors.JWKSNoMatchingKey
  ) {
    return 'invalid-signature';
  }
  if (error instanceof errors.JOSEError) return 'malformed';
  throw error;
}
