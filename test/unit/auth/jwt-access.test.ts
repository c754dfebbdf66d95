/**
 * What a JWT is worth in a namespace. Which keys a namespace accepts, when
 * both the global settings (MQTT_JWT_*) and MQTT_NAMESPACE_ACCESS have
 * some: a namespace without an entry takes global tokens; a namespace with
 * an entry is a tenant, which takes its own keys' tokens if it has keys,
 * else global tokens that name it in `mqtt.namespaces`. An issuer or
 * audience without keys beside it is a configuration error, not a check
 * that nothing makes. And who a token makes its client: its `sub`, or
 * nobody, never a username the client picked.
 */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { composeHooks, loadAccessConfig, type AccessEnv } from '../../../edge/access.ts';
import { identityFrom } from '../../../edge/core/access.ts';
import { createPbkdf2Hash, formatPasswordHash } from '../../../edge/auth/password-hash.ts';
import type { AuthDecision, UserHooks } from '../../../edge/core/hooks.ts';

const encoder = new TextEncoder();
const globalSecret = 'the-global-secret-of-at-least-32-bytes!';
const labSecret = 'the-labs-own-secret-of-at-least-32-bytes';

async function token(secret: string, claims: { sub?: string; namespaces?: string[] } = {}): Promise<string> {
  const jwt = new SignJWT(claims.namespaces === undefined ? {} : { mqtt: { namespaces: claims.namespaces } }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m');
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  return jwt.sign(encoder.encode(secret));
}

async function env(): Promise<AccessEnv> {
  const tenantPasswords = `owner:${formatPasswordHash(await createPbkdf2Hash(encoder.encode('owner-pw')))}\n`;
  return {
    MQTT_ALLOW_ANONYMOUS: 'false',
    MQTT_JWT_SECRET: globalSecret,
    MQTT_NAMESPACE_ACCESS: JSON.stringify({
      'tenant-a': { passwords: tenantPasswords },
      'tenant-b': { adminToken: 'only-an-admin-token' },
      'lab-*': { jwtSecret: labSecret },
    }),
  };
}

async function decide(accessEnv: AccessEnv, namespace: string, password: string, username = 'alice', user: UserHooks = {}): Promise<AuthDecision> {
  const authenticate = composeHooks(loadAccessConfig(accessEnv), user).authenticate;
  if (authenticate === undefined) throw new Error('no authenticate step');
  return authenticate({ namespace, clientId: 'c', username, password: encoder.encode(password), protocolLevel: 5, clean: true, keepAlive: 60, env: {}, waitUntil: () => undefined });
}

describe('global and per-namespace JWT keys', () => {
  it('takes a global token that names no namespace only where there is no entry; a tenant takes what names it, or its own keys', async () => {
    const config = await env();
    const everywhere = await token(globalSecret, { sub: 'alice' });
    expect(await decide(config, 'open', everywhere)).toEqual({ allow: true, identity: 'alice' });
    // An entry with passwords only, or with nothing about credentials at all: a tenant all the same.
    for (const tenant of ['tenant-a', 'tenant-b']) expect(await decide(config, tenant, everywhere)).toMatchObject({ allow: false, reason: 'not-authorized' });
    // Named, by name or pattern, it is valid there; naming others is not enough.
    expect(await decide(config, 'tenant-a', await token(globalSecret, { sub: 'alice', namespaces: ['tenant-a'] }))).toEqual({ allow: true, identity: 'alice' });
    expect(await decide(config, 'tenant-a', await token(globalSecret, { sub: 'alice', namespaces: ['tenant-*'] }))).toEqual({ allow: true, identity: 'alice' });
    expect(await decide(config, 'tenant-a', await token(globalSecret, { sub: 'alice', namespaces: ['tenant-b', 'lab-*'] }))).toMatchObject({ allow: false, reason: 'not-authorized' });
    // The tenant's password users still get in beside the tokens.
    expect(await decide(config, 'tenant-a', 'owner-pw', 'owner')).toEqual({ allow: true });
    // An entry with keys takes only its own, even a global token that names it; its tokens are nothing elsewhere.
    expect(await decide(config, 'lab-1', await token(labSecret, { sub: 'alice' }))).toEqual({ allow: true, identity: 'alice' });
    expect(await decide(config, 'lab-1', await token(globalSecret, { sub: 'alice', namespaces: ['lab-1'] }))).toMatchObject({ allow: false, reason: 'bad-credentials' });
    expect(await decide(config, 'open', await token(labSecret, { sub: 'alice' }))).toMatchObject({ allow: false, reason: 'bad-credentials' });
  });

  it('refuses an issuer or audience without keys beside it, globally and in an entry', () => {
    expect(() => loadAccessConfig({ MQTT_JWT_ISSUER: 'https://auth.example.com' })).toThrow(/MQTT_JWT_ISSUER and MQTT_JWT_AUDIENCE need MQTT_JWT_SECRET or MQTT_JWT_JWKS/);
    const entry = { MQTT_JWT_SECRET: globalSecret, MQTT_NAMESPACE_ACCESS: JSON.stringify({ 'tenant-a': { jwtAudience: 'tenant-a' } }) };
    expect(() => loadAccessConfig(entry)).toThrow(/MQTT_NAMESPACE_ACCESS\["tenant-a"\].*jwtIssuer and jwtAudience need jwtSecret or jwtJwks/);
  });
});

describe('a token without sub', () => {
  it('makes its client nobody for the ACL, whatever username it sent; a hook of the broker may still name it', async () => {
    const config = { MQTT_JWT_SECRET: globalSecret };
    const nameless = await token(globalSecret);
    expect(await decide(config, 'open', nameless, 'ops')).toEqual({ allow: true, identity: null });
    expect(identityFrom({ identity: null }, 'ops')).toEqual({});
    // A hook of the broker's own that says nothing of the name leaves it at none; one that names the client is the broker's code.
    expect(await decide(config, 'open', nameless, 'ops', { authenticate: () => ({ allow: true }) })).toEqual({ allow: true, identity: null });
    expect(await decide(config, 'open', nameless, 'ops', { authenticate: () => ({ allow: true, identity: 'service' }) })).toEqual({ allow: true, identity: 'service' });
    // Without a name from authentication the CONNECT's username stands (password users); with one, the name does.
    expect(identityFrom({}, 'ops')).toEqual({ username: 'ops' });
    expect(identityFrom({ identity: 'device-7', grants: { publish: ['d/7/#'] } }, undefined)).toEqual({ username: 'device-7', grants: { publish: ['d/7/#'] } });
  });
});
