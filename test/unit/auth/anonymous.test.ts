/**
 * MQTT_ALLOW_ANONYMOUS as a deployment meets it: unset, a broker is closed
 * (a Worker deployed from the repository's wrangler.toml must not be an open
 * broker on the internet), unless the broker has an `authenticate` hook of
 * its own to decide; `true` and `false` say so explicitly.
 */
import { describe, expect, it } from 'vitest';
import { composeHooks, loadAccessConfig, NoCredentialsConfigured, type AccessEnv } from '../../../edge/access.ts';
import { createPbkdf2Hash, formatPasswordHash } from '../../../edge/auth/password-hash.ts';
import type { AuthDecision, AuthenticateContext } from '../../../edge/core/hooks.ts';

const encoder = new TextEncoder();

function context(credentials: { username?: string; password?: string } = {}): AuthenticateContext {
  return {
    namespace: 'default',
    clientId: 'c',
    protocolLevel: 5,
    clean: true,
    keepAlive: 60,
    ...(credentials.username === undefined ? {} : { username: credentials.username }),
    ...(credentials.password === undefined ? {} : { password: encoder.encode(credentials.password) }),
  };
}

async function decide(env: AccessEnv, credentials: { username?: string; password?: string } = {}, hook?: () => AuthDecision): Promise<AuthDecision> {
  const hooks = composeHooks(loadAccessConfig(env), hook === undefined ? {} : { authenticate: hook });
  if (hooks.authenticate === undefined) throw new Error('no authenticate step');
  return hooks.authenticate({ ...context(credentials), env: {}, waitUntil: () => undefined });
}

describe('MQTT_ALLOW_ANONYMOUS', () => {
  it('unset, refuses clients with and without a username, saying what to set', async () => {
    for (const credentials of [{}, { username: 'someone', password: 'pw' }]) {
      expect(await decide({}, credentials)).toEqual({ allow: false, reason: 'not-authorized', message: NoCredentialsConfigured });
    }
    expect(NoCredentialsConfigured).toMatch(/MQTT_ALLOW_ANONYMOUS=true/);
    expect(await decide({ MQTT_ALLOW_ANONYMOUS: '' })).toMatchObject({ allow: false });
  });

  it('true and false say it explicitly', async () => {
    expect(await decide({ MQTT_ALLOW_ANONYMOUS: 'true' })).toEqual({ allow: true });
    expect(await decide({ MQTT_ALLOW_ANONYMOUS: 'true' }, { username: 'anyone', password: 'x' })).toEqual({ allow: true });
    // Explicitly closed: no hint that opening it is one setting away.
    expect(await decide({ MQTT_ALLOW_ANONYMOUS: 'false' })).toEqual({ allow: false, reason: 'not-authorized' });
  });

  it('unset, leaves the decision to an authenticate hook of the broker', async () => {
    expect(await decide({}, {}, () => ({ allow: true }))).toEqual({ allow: true });
    expect(await decide({}, { username: 'u', password: 'p' }, () => ({ allow: false, reason: 'bad-credentials' }))).toEqual({ allow: false, reason: 'bad-credentials' });
    // Explicitly false still refuses before the hook.
    expect(await decide({ MQTT_ALLOW_ANONYMOUS: 'false' }, {}, () => ({ allow: true }))).toMatchObject({ allow: false });
  });

  it('unset with a password file: a known user gets in, an anonymous client is refused without the "nothing configured" hint', async () => {
    const passwords = `alice:${formatPasswordHash(await createPbkdf2Hash(encoder.encode('alice-pw')))}\n`;
    expect(await decide({ MQTT_PASSWORDS: passwords }, { username: 'alice', password: 'alice-pw' })).toEqual({ allow: true });
    expect(await decide({ MQTT_PASSWORDS: passwords })).toEqual({ allow: false, reason: 'not-authorized' });
  });

  it('refuses a value that is neither true nor false', () => {
    expect(() => loadAccessConfig({ MQTT_ALLOW_ANONYMOUS: 'yes' })).toThrow(/must be true or false/);
  });
});
