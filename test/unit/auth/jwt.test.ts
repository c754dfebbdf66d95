/**
 * JWT verification with keys made in the test: HS256 secrets, ES256 and
 * RS256 key pairs published as a JWKS.
 */
import { describe, expect, it } from 'vitest';
import { SignJWT, base64url, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { createJwtVerifier } from '../../../edge/auth/jwt.ts';

const secret = 'a-test-secret-that-is-at-least-32-bytes-long';
const now = new Date('2030-01-01T00:00:00Z');
const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);
const inOneHour = seconds(now) + 3600;

interface SignOptions {
  alg?: string;
  kid?: string;
  /** Seconds since the epoch, or 'none' for a token without exp. */
  exp?: number | 'none';
}

async function sign(claims: JWTPayload, key: CryptoKey | Uint8Array, { alg = 'HS256', kid, exp = inOneHour }: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, ...(kid !== undefined && { kid }) }).setIssuedAt(seconds(now));
  if (exp !== 'none') jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

const hs256Key = new TextEncoder().encode(secret);

/** A token that claims `alg: none` and carries no signature. */
function unsignedToken(claims: JWTPayload): string {
  const encode = (value: object): string => base64url.encode(JSON.stringify(value));
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}

async function keyPairWithJwk(alg: 'ES256' | 'RS256', kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

describe('HS256 with a shared secret', () => {
  const verify = createJwtVerifier({ secret });

  it('accepts a valid token and returns the subject and permissions', async () => {
    const token = await sign({ sub: 'device-1', mqtt: { publish: ['devices/device-1/#'], subscribe: ['commands/device-1', 'broadcast/+'] } }, hs256Key);
    expect(await verify(token, now)).toEqual({
      ok: true,
      subject: 'device-1',
      publish: ['devices/device-1/#'],
      subscribe: ['commands/device-1', 'broadcast/+'],
    });
  });

  it('leaves out what the token does not say', async () => {
    expect(await verify(await sign({}, hs256Key), now)).toEqual({ ok: true });
    expect(await verify(await sign({ mqtt: { subscribe: [] } }, hs256Key), now)).toEqual({ ok: true, subscribe: [] });
  });

  it('ignores top-level publish/subscribe claims', async () => {
    const token = await sign({ sub: 'x', publish: ['#'], subscribe: ['#'] }, hs256Key);
    expect(await verify(token, now)).toEqual({ ok: true, subject: 'x' });
  });

  it('reports an expired token', async () => {
    const token = await sign({ sub: 'x' }, hs256Key, { exp: seconds(now) - 1 });
    expect(await verify(token, now)).toEqual({ ok: false, reason: 'expired' });
    // The same token was fine an hour earlier.
    expect(await verify(token, new Date(now.getTime() - 3_600_000))).toMatchObject({ ok: true });
  });

  it('uses the real clock when no time is given', async () => {
    const fresh = await sign({}, hs256Key, { exp: seconds(new Date()) + 60 });
    expect(await verify(fresh)).toEqual({ ok: true });
    const stale = await sign({}, hs256Key, { exp: seconds(new Date()) - 60 });
    expect(await verify(stale)).toEqual({ ok: false, reason: 'expired' });
  });

  it('reports a token signed with another secret', async () => {
    const token = await sign({ sub: 'x' }, new TextEncoder().encode(`${secret}-but-different`));
    expect(await verify(token, now)).toEqual({ ok: false, reason: 'invalid-signature' });
  });

  it('reports a token whose payload was changed after signing', async () => {
    const token = await sign({ sub: 'x', mqtt: { publish: ['a'] } }, hs256Key);
    const [header, , signature] = token.split('.');
    const forged = `${header}.${base64url.encode(JSON.stringify({ sub: 'x', mqtt: { publish: ['#'] }, exp: inOneHour }))}.${signature}`;
    expect(await verify(forged, now)).toEqual({ ok: false, reason: 'invalid-signature' });
  });

  it('refuses alg none', async () => {
    expect(await verify(unsignedToken({ sub: 'x', exp: inOneHour }), now)).toEqual({ ok: false, reason: 'invalid-signature' });
  });

  it('refuses a token signed with an asymmetric key', async () => {
    const { privateKey } = await keyPairWithJwk('ES256', 'k');
    expect(await verify(await sign({}, privateKey, { alg: 'ES256' }), now)).toEqual({ ok: false, reason: 'invalid-signature' });
  });

  it.each([
    ['not a token', 'not-a-jwt'],
    ['an empty string', ''],
    ['two parts', 'abc.def'],
    ['a header that is not JSON', `${base64url.encode('nope')}.${base64url.encode('{}')}.sig`],
  ])('reports %s as malformed', async (_name, token) => {
    expect(await verify(token, now)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('requires exp', async () => {
    const token = await sign({ sub: 'x' }, hs256Key, { exp: 'none' });
    expect(await verify(token, now)).toEqual({ ok: false, reason: 'claims' });
  });

  it('reports a token not valid yet', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setNotBefore(inOneHour - 60).setExpirationTime(inOneHour).sign(hs256Key);
    expect(await verify(token, now)).toEqual({ ok: false, reason: 'claims' });
  });

  it.each([
    ['mqtt is not an object', { mqtt: ['a'] }],
    ['publish is not an array', { mqtt: { publish: 'a/b' } }],
    ['subscribe holds a number', { mqtt: { subscribe: ['a', 1] } }],
    ['publish holds an invalid filter', { mqtt: { publish: ['a/#/b'] } }],
    ['sub is not a string', { sub: 42 }],
  ])('reports bad claims: %s', async (_name, claims) => {
    expect(await verify(await sign(claims as JWTPayload, hs256Key), now)).toEqual({ ok: false, reason: 'claims' });
  });
});

describe('issuer and audience', () => {
  const verify = createJwtVerifier({ secret, issuer: 'https://auth.example.com', audience: 'mqtt' });
  const withClaims = (claims: JWTPayload): Promise<string> => sign(claims, hs256Key);

  it('accepts the expected issuer and audience', async () => {
    expect(await verify(await withClaims({ iss: 'https://auth.example.com', aud: ['web', 'mqtt'] }), now)).toEqual({ ok: true });
  });

  it.each([
    ['a wrong issuer', { iss: 'https://evil.example.com', aud: 'mqtt' }],
    ['no issuer', { aud: 'mqtt' }],
    ['a wrong audience', { iss: 'https://auth.example.com', aud: 'web' }],
    ['no audience', { iss: 'https://auth.example.com' }],
  ])('reports %s', async (_name, claims) => {
    expect(await verify(await withClaims(claims), now)).toEqual({ ok: false, reason: 'claims' });
  });
});

describe.each(['ES256', 'RS256'] as const)('%s with a JWKS', (alg) => {
  it('accepts a token signed by a key of the set, found by kid', async () => {
    const signer = await keyPairWithJwk(alg, 'current');
    const other = await keyPairWithJwk(alg, 'previous');
    const verify = createJwtVerifier({ jwks: JSON.stringify({ keys: [other.jwk, signer.jwk] }) });
    const token = await sign({ sub: 'svc', mqtt: { publish: ['jobs/#'] } }, signer.privateKey, { alg, kid: 'current' });
    expect(await verify(token, now)).toEqual({ ok: true, subject: 'svc', publish: ['jobs/#'] });
  });

  it('tries every matching key when the token has no kid', async () => {
    const signer = await keyPairWithJwk(alg, 'b');
    const other = await keyPairWithJwk(alg, 'a');
    const verify = createJwtVerifier({ jwks: JSON.stringify({ keys: [other.jwk, signer.jwk] }) });
    expect(await verify(await sign({ sub: 'svc' }, signer.privateKey, { alg }), now)).toEqual({ ok: true, subject: 'svc' });
    const stranger = await keyPairWithJwk(alg, 'c');
    expect(await verify(await sign({}, stranger.privateKey, { alg }), now)).toEqual({ ok: false, reason: 'invalid-signature' });
  });

  it('reports the verdict of the right key among several: expired', async () => {
    const signer = await keyPairWithJwk(alg, 'b');
    const other = await keyPairWithJwk(alg, 'a');
    const verify = createJwtVerifier({ jwks: JSON.stringify({ keys: [other.jwk, signer.jwk] }) });
    const token = await sign({}, signer.privateKey, { alg, exp: seconds(now) - 10 });
    expect(await verify(token, now)).toEqual({ ok: false, reason: 'expired' });
  });

  it('reports an expired token', async () => {
    const signer = await keyPairWithJwk(alg, 'k');
    const verify = createJwtVerifier({ jwks: JSON.stringify({ keys: [signer.jwk] }) });
    const token = await sign({}, signer.privateKey, { alg, kid: 'k', exp: seconds(now) - 10 });
    expect(await verify(token, now)).toEqual({ ok: false, reason: 'expired' });
  });

  it('reports a token signed by a key outside the set, even with a known kid', async () => {
    const published = await keyPairWithJwk(alg, 'k');
    const impostor = await keyPairWithJwk(alg, 'k');
    const verify = createJwtVerifier({ jwks: JSON.stringify({ keys: [published.jwk] }) });
    expect(await verify(await sign({}, impostor.privateKey, { alg, kid: 'k' }), now)).toEqual({ ok: false, reason: 'invalid-signature' });
    expect(await verify(await sign({}, impostor.privateKey, { alg, kid: 'unknown' }), now)).toEqual({ ok: false, reason: 'invalid-signature' });
  });

  it('refuses alg none and HS256 (a public key used as an HMAC secret)', async () => {
    const signer = await keyPairWithJwk(alg, 'k');
    const verify = createJwtVerifier({ jwks: JSON.stringify({ keys: [signer.jwk] }) });
    expect(await verify(unsignedToken({ exp: inOneHour }), now)).toEqual({ ok: false, reason: 'invalid-signature' });
    const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(signer.jwk));
    expect(await verify(await sign({}, publicKeyAsSecret, { alg: 'HS256', kid: 'k' }), now)).toEqual({ ok: false, reason: 'invalid-signature' });
  });
});

describe('createJwtVerifier options', () => {
  it.each([
    ['neither key source', {}, /exactly one of/],
    ['both key sources', { secret, jwks: '{"keys":[]}' }, /exactly one of/],
    ['a short secret', { secret: 'short' }, /at least 32 bytes/],
    ['JWKS text that is not JSON', { jwks: '{keys' }, /not valid JSON/],
    ['JSON that is not a key set', { jwks: '{"kty":"EC"}' }, /must be a JWK Set/],
  ])('refuses %s', (_name, options, message) => {
    expect(() => createJwtVerifier(options)).toThrow(message);
  });

  it('refuses a JWKS holding a private key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    expect(() => createJwtVerifier({ jwks: JSON.stringify({ keys: [privateJwk] }) })).toThrow(/public keys only/);
  });

  it('refuses a JWKS holding a symmetric key', () => {
    const octJwk = { kty: 'oct', k: base64url.encode(secret) };
    expect(() => createJwtVerifier({ jwks: JSON.stringify({ keys: [octJwk] }) })).toThrow(/public keys only/);
  });
});
