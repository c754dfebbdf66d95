/**
 * Access control from configuration, for people who bring mosquitto files:
 * MQTT_ALLOW_ANONYMOUS, MQTT_PASSWORDS (a mosquitto password file),
 * MQTT_ACL (a mosquitto ACL file) and JWT (MQTT_JWT_SECRET / MQTT_JWT_JWKS).
 * Expressed as broker hooks, and composed with the user's own hooks: the
 * configuration decides first, the user's hook can only narrow it further.
 */
import { canRead, canWrite, parseAclFile, type Acl } from './auth/acl.ts';
import { ConfigError } from './auth/config-error.ts';
import { createJwtVerifier, type JwtVerifier } from './auth/jwt.ts';
import { parsePasswordFile, verifyPassword, type PasswordFile } from './auth/password-file.ts';
import { parseSharedSubscription } from '../shared/topic.ts';
import type { AllowDecision, AuthDecision, AuthenticateContext, DenyDecision, BrokerHooks, ClientGrants, PublishDecision, SubscribeDecision } from './core/hooks.ts';
import { normalizePublishDecision, normalizeSubscribeDecision } from './core/hooks.ts';
import type { EdgeVars } from './config.ts';

/** The settings access control reads (declared once, in config.ts). */
export type AccessEnv = Pick<
  EdgeVars,
  'MQTT_ALLOW_ANONYMOUS' | 'MQTT_PASSWORDS' | 'MQTT_ACL' | 'MQTT_JWT_SECRET' | 'MQTT_JWT_JWKS' | 'MQTT_JWT_ISSUER' | 'MQTT_JWT_AUDIENCE'
>;

export interface AccessConfig {
  allowAnonymous: boolean;
  passwords?: PasswordFile;
  acl?: Acl;
  jwt?: JwtVerifier;
}

/** A configuration value that cannot be used; names the variable (and line) at fault. */
export class BrokerConfigError extends Error {
  override readonly name = 'BrokerConfigError';
}

function withVariable<T>(variable: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigError) throw new BrokerConfigError(`${variable} ${error.message}`, { cause: error });
    throw new BrokerConfigError(`${variable}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export function loadAccessConfig(env: AccessEnv): AccessConfig {
  const anonymous = env.MQTT_ALLOW_ANONYMOUS;
  if (anonymous !== undefined && anonymous !== '' && anonymous !== 'true' && anonymous !== 'false') {
    throw new BrokerConfigError(`MQTT_ALLOW_ANONYMOUS="${anonymous}" must be true or false`);
  }
  const config: AccessConfig = { allowAnonymous: anonymous !== 'false' };
  if (nonEmpty(env.MQTT_PASSWORDS)) config.passwords = withVariable('MQTT_PASSWORDS', () => parsePasswordFile(env.MQTT_PASSWORDS as string));
  if (nonEmpty(env.MQTT_ACL)) config.acl = withVariable('MQTT_ACL', () => parseAclFile(env.MQTT_ACL as string));
  if (nonEmpty(env.MQTT_JWT_SECRET) || nonEmpty(env.MQTT_JWT_JWKS)) {
    config.jwt = withVariable('MQTT_JWT', () =>
      createJwtVerifier({
        ...(nonEmpty(env.MQTT_JWT_SECRET) ? { secret: env.MQTT_JWT_SECRET as string } : {}),
        ...(nonEmpty(env.MQTT_JWT_JWKS) ? { jwks: env.MQTT_JWT_JWKS as string } : {}),
        ...(nonEmpty(env.MQTT_JWT_ISSUER) ? { issuer: env.MQTT_JWT_ISSUER as string } : {}),
        ...(nonEmpty(env.MQTT_JWT_AUDIENCE) ? { audience: env.MQTT_JWT_AUDIENCE as string } : {}),
      }),
    );
  }
  return config;
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '';
}

/**
 * Who may connect, by configuration:
 * - a username listed in MQTT_PASSWORDS must give its password;
 * - with JWT configured, a password that is a token is verified (its claims may limit topics);
 * - a client without credentials is let in only when MQTT_ALLOW_ANONYMOUS is not false;
 * - a username that nothing above knows is refused when passwords or JWT are configured.
 */
export async function authenticateByConfig(config: AccessConfig, ctx: AuthenticateContext): Promise<AllowDecision | DenyDecision> {
  const { username, password } = ctx;
  if (config.passwords !== undefined && username !== undefined && config.passwords.users.has(username)) {
    const ok = password !== undefined && (await verifyPassword(config.passwords, username, password));
    return ok ? { allow: true } : { allow: false, reason: 'bad-credentials' };
  }
  if (config.jwt !== undefined && password !== undefined) {
    const result = await config.jwt(new TextDecoder().decode(password));
    if (!result.ok) return { allow: false, reason: 'bad-credentials' };
    const grants: ClientGrants = {};
    if (result.publish !== undefined) grants.publish = result.publish;
    if (result.subscribe !== undefined) grants.subscribe = result.subscribe;
    return Object.keys(grants).length > 0 ? { allow: true, grants } : { allow: true };
  }
  if (username === undefined && password === undefined) {
    return config.allowAnonymous ? { allow: true } : { allow: false, reason: 'not-authorized' };
  }
  if (config.passwords !== undefined || config.jwt !== undefined) {
    // Credentials nobody can check: refuse rather than treat them as anonymous.
    if (config.passwords !== undefined && username !== undefined) {
      // Spend the same time as a known user, so unknown names cannot be told apart.
      await verifyPassword(config.passwords, username, password ?? new Uint8Array());
    }
    return { allow: false, reason: 'bad-credentials' };
  }
  return config.allowAnonymous ? { allow: true } : { allow: false, reason: 'not-authorized' };
}

/** The configuration's hooks, then the user's: each step may refuse; a user hook may only narrow. */
export function composeHooks(config: AccessConfig, user: BrokerHooks): BrokerHooks {
  const hooks: BrokerHooks = { ...user };
  const configuresAuth = config.passwords !== undefined || config.jwt !== undefined || !config.allowAnonymous;
  if (configuresAuth || user.authenticate === undefined) {
    const userAuthenticate = user.authenticate;
    hooks.authenticate = async (ctx) => {
      // Enhanced authentication is the user's hook's to run; configuration alone has no method.
      if (ctx.authenticationMethod !== undefined && userAuthenticate === undefined) return { allow: false, reason: 'bad-authentication-method' };
      const decision = await authenticateByConfig(config, ctx);
      if (!decision.allow || userAuthenticate === undefined) return decision;
      const userDecision = await userAuthenticate(ctx);
      if ('challenge' in userDecision || !userDecision.allow) return userDecision;
      return mergeGrants(decision, userDecision);
    };
  }
  const acl = config.acl;
  if (acl !== undefined) {
    const userSubscribe = user.onSubscribe;
    hooks.onSubscribe = async (ctx): Promise<SubscribeDecision> => {
      const shared = parseSharedSubscription(ctx.filter);
      const filter = shared.kind === 'invalid' ? ctx.filter : shared.filter;
      if (!canRead(acl, { username: ctx.username, clientId: ctx.clientId }, filter)) return { allow: false };
      return userSubscribe === undefined ? true : normalizeSubscribeDecision(await userSubscribe(ctx));
    };
    const userPublish = user.onPublish;
    hooks.onPublish = async (ctx): Promise<PublishDecision> => {
      if (!canWrite(acl, { username: ctx.username, clientId: ctx.clientId }, ctx.topic)) return { allow: false };
      return userPublish === undefined ? true : normalizePublishDecision(await userPublish(ctx));
    };
  }
  return hooks;
}

function mergeGrants(first: AllowDecision, second: AllowDecision): AllowDecision {
  if (first.grants === undefined) return second;
  if (second.grants === undefined) return first;
  // Both limit the client: keep both lists (a topic must pass each source's list).
  const narrowed: ClientGrants = {};
  const publish = intersectLists(first.grants.publish, second.grants.publish);
  const subscribe = intersectLists(first.grants.subscribe, second.grants.subscribe);
  if (publish !== undefined) narrowed.publish = publish;
  if (subscribe !== undefined) narrowed.subscribe = subscribe;
  return { ...second, grants: narrowed };
}

/** Two limits on the same thing: keep the stricter one where one is absent, else the filters both allow verbatim. */
function intersectLists(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.filter((filter) => b.includes(filter));
}
