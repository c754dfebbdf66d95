/**
 * Access control from configuration, for people who bring mosquitto files:
 * MQTT_ALLOW_ANONYMOUS, MQTT_PASSWORDS (a mosquitto password file),
 * MQTT_ACL (a mosquitto ACL file) and JWT (MQTT_JWT_SECRET / MQTT_JWT_JWKS),
 * for every declared namespace; and per namespace, MQTT_NAMESPACE_ACCESS:
 *
 *   { "tenant-a": { "passwords": "...", "acl": "...", "allowAnonymous": false,
 *                   "jwtSecret": "...", "adminToken": "...", "apiToken": "..." },
 *     "lab-*":    { "acl": "..." } }
 *
 * Keys are namespace names or `prefix*` patterns (an exact name wins, then
 * the longest prefix). Each setting an entry leaves out falls back to the
 * global one, but for JWT: a namespace with an entry is its own tenant, so
 * a token of the global keys is valid there only if it names the namespace
 * (`mqtt.namespaces`), and an entry with keys of its own accepts only its
 * own (settingsFor says why). Authentication is expressed as the `authenticate` hook and
 * composed with the user's own (the configuration decides first, the user's
 * hook can only narrow); the ACL is the core's access policy, checked per
 * message delivered.
 */
import { ClientAcl, parseAclFile, type Acl } from './auth/acl.ts';
import { ConfigError } from './auth/config-error.ts';
import { createJwtVerifier, type JwtVerifier } from './auth/jwt.ts';
import { parsePasswordFile, verifyPassword, type PasswordFile } from './auth/password-file.ts';
import type { AccessPolicy } from './core/access.ts';
import type { AllowDecision, AuthDecision, AuthenticateContext, DenyDecision, ClientGrants, UserHooks } from './core/hooks.ts';
import type { EdgeVars } from './config.ts';
import { matchesNamespacePattern } from './namespaces.ts';

/** The settings access control reads (declared once, in config.ts). */
export type AccessEnv = Pick<
  EdgeVars,
  | 'MQTT_ALLOW_ANONYMOUS'
  | 'MQTT_PASSWORDS'
  | 'MQTT_ACL'
  | 'MQTT_JWT_SECRET'
  | 'MQTT_JWT_JWKS'
  | 'MQTT_JWT_ISSUER'
  | 'MQTT_JWT_AUDIENCE'
  | 'MQTT_NAMESPACE_ACCESS'
  | 'MQTT_ADMIN_TOKEN'
  | 'MQTT_API_TOKEN'
>;

/** Access settings of one scope: every namespace (from MQTT_*), or some (an MQTT_NAMESPACE_ACCESS entry). */
export interface AccessSettings {
  /**
   * Clients without credentials (or with credentials nothing here can
   * check). Unset: refused, unless an `authenticate` hook of the broker's
   * own is there to decide; a deployment is closed until someone opens it.
   */
  allowAnonymous?: boolean;
  passwords?: PasswordFile;
  acl?: Acl;
  jwt?: JwtVerifier;
  /**
   * `jwt` is the global verifier, lent to a namespace that has an
   * MQTT_NAMESPACE_ACCESS entry without keys of its own: a token is valid
   * here only if its `mqtt.namespaces` names the namespace.
   */
  jwtOnlyIfNamed?: boolean;
  /** Admin API and /metrics for these namespaces (besides the global MQTT_ADMIN_TOKEN). */
  adminToken?: string;
  /** POST /publish for these namespaces (besides the global MQTT_API_TOKEN). */
  apiToken?: string;
}

export interface AccessConfig {
  global: AccessSettings;
  /** MQTT_NAMESPACE_ACCESS entries: a name or `prefix*` pattern, and what it sets. */
  scoped: Array<{ pattern: string; settings: Partial<AccessSettings> }>;
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

/** The keys an MQTT_NAMESPACE_ACCESS entry may have; anything else is a typo, refused. */
const ScopedKeys = ['passwords', 'acl', 'allowAnonymous', 'jwtSecret', 'jwtJwks', 'jwtIssuer', 'jwtAudience', 'adminToken', 'apiToken'] as const;

export function loadAccessConfig(env: AccessEnv): AccessConfig {
  const anonymous = env.MQTT_ALLOW_ANONYMOUS;
  if (anonymous !== undefined && anonymous !== '' && anonymous !== 'true' && anonymous !== 'false') {
    throw new BrokerConfigError(`MQTT_ALLOW_ANONYMOUS="${anonymous}" must be true or false`);
  }
  const global: AccessSettings = anonymous === 'true' || anonymous === 'false' ? { allowAnonymous: anonymous === 'true' } : {};
  if (nonEmpty(env.MQTT_PASSWORDS)) global.passwords = withVariable('MQTT_PASSWORDS', () => parsePasswordFile(env.MQTT_PASSWORDS as string));
  if (nonEmpty(env.MQTT_ACL)) global.acl = withVariable('MQTT_ACL', () => parseAclFile(env.MQTT_ACL as string));
  const jwt = jwtFrom('MQTT_JWT', { secret: env.MQTT_JWT_SECRET, jwks: env.MQTT_JWT_JWKS, issuer: env.MQTT_JWT_ISSUER, audience: env.MQTT_JWT_AUDIENCE }, {
    keys: 'MQTT_JWT_SECRET or MQTT_JWT_JWKS',
    claims: 'MQTT_JWT_ISSUER and MQTT_JWT_AUDIENCE',
  });
  if (jwt !== undefined) global.jwt = jwt;
  if (nonEmpty(env.MQTT_ADMIN_TOKEN)) global.adminToken = env.MQTT_ADMIN_TOKEN as string;
  if (nonEmpty(env.MQTT_API_TOKEN)) global.apiToken = env.MQTT_API_TOKEN as string;
  return { global, scoped: nonEmpty(env.MQTT_NAMESPACE_ACCESS) ? parseScoped(env.MQTT_NAMESPACE_ACCESS as string) : [] };
}

/**
 * The verifier of one scope's JWT settings; none without keys. An issuer or
 * audience without keys is refused: it reads like "only tokens from there",
 * yet without keys of the same scope nothing would check it (an entry's would
 * quietly leave the global keys in charge).
 */
function jwtFrom(
  variable: string,
  options: { secret?: string | undefined; jwks?: string | undefined; issuer?: string | undefined; audience?: string | undefined },
  names: { keys: string; claims: string },
): JwtVerifier | undefined {
  if (!nonEmpty(options.secret) && !nonEmpty(options.jwks)) {
    if (nonEmpty(options.issuer) || nonEmpty(options.audience)) throw new BrokerConfigError(`${variable}: ${names.claims} need ${names.keys} beside them`);
    return undefined;
  }
  return withVariable(variable, () =>
    createJwtVerifier({
      ...(nonEmpty(options.secret) ? { secret: options.secret as string } : {}),
      ...(nonEmpty(options.jwks) ? { jwks: options.jwks as string } : {}),
      ...(nonEmpty(options.issuer) ? { issuer: options.issuer as string } : {}),
      ...(nonEmpty(options.audience) ? { audience: options.audience as string } : {}),
    }),
  );
}

function parseScoped(text: string): AccessConfig['scoped'] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BrokerConfigError(`MQTT_NAMESPACE_ACCESS is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BrokerConfigError('MQTT_NAMESPACE_ACCESS must be a JSON object: { "<namespace or prefix*>": { ... } }');
  return Object.entries(parsed as Record<string, unknown>).map(([pattern, value]) => {
    const where = `MQTT_NAMESPACE_ACCESS["${pattern}"]`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\*?$|^\*$/.test(pattern)) throw new BrokerConfigError(`${where}: not a namespace name or prefix* pattern`);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BrokerConfigError(`${where} must be an object`);
    const entry = value as Record<string, unknown>;
    for (const key of Object.keys(entry)) {
      if (!(ScopedKeys as readonly string[]).includes(key)) throw new BrokerConfigError(`${where}: unknown setting "${key}" (expected ${ScopedKeys.join(', ')})`);
    }
    const text = (key: string): string | undefined => {
      const v = entry[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'string') throw new BrokerConfigError(`${where}.${key} must be a string`);
      return v;
    };
    const settings: Partial<AccessSettings> = {};
    if (entry['allowAnonymous'] !== undefined) {
      if (typeof entry['allowAnonymous'] !== 'boolean') throw new BrokerConfigError(`${where}.allowAnonymous must be true or false`);
      settings.allowAnonymous = entry['allowAnonymous'];
    }
    const passwords = text('passwords');
    if (passwords !== undefined) settings.passwords = withVariable(`${where}.passwords`, () => parsePasswordFile(passwords));
    const acl = text('acl');
    if (acl !== undefined) settings.acl = withVariable(`${where}.acl`, () => parseAclFile(acl));
    const jwt = jwtFrom(`${where}.jwt`, { secret: text('jwtSecret'), jwks: text('jwtJwks'), issuer: text('jwtIssuer'), audience: text('jwtAudience') }, {
      keys: 'jwtSecret or jwtJwks',
      claims: 'jwtIssuer and jwtAudience',
    });
    if (jwt !== undefined) settings.jwt = jwt;
    const adminToken = text('adminToken');
    if (adminToken !== undefined) settings.adminToken = adminToken;
    const apiToken = text('apiToken');
    if (apiToken !== undefined) settings.apiToken = apiToken;
    return { pattern, settings };
  });
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '';
}

/**
 * The settings for one namespace: its entry (an exact name, else the
 * longest prefix), each missing setting from the global ones. JWT is the
 * exception. A global token that names no namespace was issued for "every
 * namespace", and a namespace with an entry of its own is a tenant whose
 * operator chose its own credentials: taking such a token there would let
 * whoever holds the global key into every tenant. So an entry with JWT keys
 * accepts only tokens of its keys; an entry without keys accepts global
 * tokens only if they name the namespace (`mqtt.namespaces`: its name or a
 * pattern covering it), which the global key's holder then did on purpose.
 */
export function settingsFor(config: AccessConfig, namespace: string): AccessSettings {
  const matching = config.scoped.filter((entry) => matchesNamespacePattern(entry.pattern, namespace));
  const exact = matching.find((entry) => entry.pattern === namespace);
  const best = exact ?? matching.sort((a, b) => b.pattern.length - a.pattern.length)[0];
  if (best === undefined) return config.global;
  const merged: AccessSettings = { ...config.global };
  for (const [key, value] of Object.entries(best.settings)) if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  if (best.settings.jwt === undefined && merged.jwt !== undefined) merged.jwtOnlyIfNamed = true;
  return merged;
}

/** The namespace's ACL as the core's access policy; undefined when it has none (everything allowed). */
export function accessPolicyFor(config: AccessConfig, namespace: string): AccessPolicy | undefined {
  const acl = settingsFor(config, namespace).acl;
  if (acl === undefined) return undefined;
  return { forClient: (identity, clientId) => new ClientAcl(acl, { username: identity.username, clientId }) };
}

/**
 * Who may connect, by configuration:
 * - a username listed in the password file must give its password;
 * - with JWT configured, a password that is a token is verified: it must be
 *   valid in this namespace (`mqtt.namespaces`, when present; and present,
 *   naming it, for a global token in a namespace with an entry), its `sub` must
 *   equal the username when both are given, and `sub` is who the ACL sees
 *   (no `sub`: nobody, whatever the username); its claims may limit topics;
 * - a client without credentials is let in only when anonymous access is on
 *   (MQTT_ALLOW_ANONYMOUS=true), or, when it is not set, if the broker has
 *   an `authenticate` hook of its own (`hookDecides`) to decide instead;
 * - a username that nothing above knows is refused when passwords or JWT are configured.
 */
export async function authenticateByConfig(settings: AccessSettings, ctx: AuthenticateContext, hookDecides = false): Promise<AllowDecision | DenyDecision> {
  const { username, password } = ctx;
  if (settings.passwords !== undefined && username !== undefined && settings.passwords.users.has(username)) {
    const ok = password !== undefined && (await verifyPassword(settings.passwords, username, password));
    return ok ? { allow: true } : { allow: false, reason: 'bad-credentials' };
  }
  if (settings.jwt !== undefined && password !== undefined) {
    const result = await settings.jwt(new TextDecoder().decode(password));
    if (!result.ok) return { allow: false, reason: 'bad-credentials' };
    // A token for other namespaces, or for another user, is no credential here.
    if (!isValidIn(result.namespaces, ctx.namespace, settings.jwtOnlyIfNamed === true)) return { allow: false, reason: 'not-authorized', message: 'the token is not valid in this namespace (mqtt.namespaces)' };
    if (result.subject !== undefined && username !== undefined && result.subject !== username) return { allow: false, reason: 'bad-credentials' };
    const grants: ClientGrants = {};
    if (result.publish !== undefined) grants.publish = result.publish;
    if (result.subscribe !== undefined) grants.subscribe = result.subscribe;
    // A token without `sub` vouches for no name: the client is nobody for the ACL, whatever username it gave
    // (refusing it instead would shut out 3.1.1 clients, which cannot send a password without a username [MQTT-3.1.2-22]).
    return { allow: true, ...(Object.keys(grants).length > 0 ? { grants } : {}), identity: result.subject ?? null };
  }
  if (username === undefined && password === undefined) return anonymousDecision(settings, hookDecides);
  if (settings.passwords !== undefined || settings.jwt !== undefined) {
    // Credentials nobody can check: refuse rather than treat them as anonymous.
    if (settings.passwords !== undefined && username !== undefined) {
      // Spend the same time as a known user, so unknown names cannot be told apart.
      await verifyPassword(settings.passwords, username, password ?? new Uint8Array());
    }
    return { allow: false, reason: 'bad-credentials' };
  }
  return anonymousDecision(settings, hookDecides);
}

/** Whether a token's `mqtt.namespaces` lets it in here; `mustName`: a token that names none is not enough. */
function isValidIn(namespaces: string[] | undefined, namespace: string, mustName: boolean): boolean {
  if (namespaces === undefined) return !mustName;
  return namespaces.some((pattern) => matchesNamespacePattern(pattern, namespace));
}

/** Said to a client refused for want of anything that could let it in, so that whoever runs the broker sees what to set. */
export const NoCredentialsConfigured =
  'anonymous clients are not allowed and no credentials are configured: set MQTT_PASSWORDS or MQTT_JWT_SECRET, add users through the admin API, or set MQTT_ALLOW_ANONYMOUS=true';

/** A client with nothing configured to check its credentials by: anonymous, for MQTT_ALLOW_ANONYMOUS. */
function anonymousDecision(settings: AccessSettings, hookDecides: boolean): AllowDecision | DenyDecision {
  if (settings.allowAnonymous === true || (settings.allowAnonymous === undefined && hookDecides)) return { allow: true };
  const nothingConfigured = settings.passwords === undefined && settings.jwt === undefined && settings.allowAnonymous === undefined;
  return { allow: false, reason: 'not-authorized', ...(nothingConfigured ? { message: NoCredentialsConfigured } : {}) };
}

/** Whether any scope configures authentication (then the configuration's authenticate hook always runs). */
function configuresAuthentication(config: AccessConfig): boolean {
  const scopes = [config.global, ...config.scoped.map((entry) => entry.settings)];
  return scopes.some((s) => s.passwords !== undefined || s.jwt !== undefined || s.allowAnonymous === false);
}

/**
 * The configuration's authenticate hook, then the user's: each step may
 * refuse; a user hook may only narrow. `settingsOf` replaces the configured
 * settings: a namespace's object passes its own, with its runtime users
 * (runtime-access.ts); since those can appear at any time, the
 * configuration's step then always runs.
 */
export function composeHooks<Env>(config: AccessConfig, user: UserHooks<Env>, settingsOf?: (namespace: string) => AccessSettings): UserHooks<Env> {
  const hooks: UserHooks<Env> = { ...user };
  if (settingsOf !== undefined || configuresAuthentication(config) || user.authenticate === undefined) {
    const userAuthenticate = user.authenticate;
    const settings = settingsOf ?? ((namespace: string) => settingsFor(config, namespace));
    hooks.authenticate = async (ctx): Promise<AuthDecision> => {
      // Enhanced authentication is the user's hook's to run; configuration alone has no method.
      if (ctx.authenticationMethod !== undefined && userAuthenticate === undefined) return { allow: false, reason: 'bad-authentication-method' };
      const decision = await authenticateByConfig(settings(ctx.namespace), ctx, userAuthenticate !== undefined);
      if (!decision.allow || userAuthenticate === undefined) return decision;
      const userDecision = await userAuthenticate(ctx);
      if ('challenge' in userDecision || !userDecision.allow) return userDecision;
      return mergeGrants(decision, userDecision);
    };
  }
  return hooks;
}

function mergeGrants(first: AllowDecision, second: AllowDecision): AllowDecision {
  const merged: AllowDecision = { ...second };
  // The user's hook may name the client (its code is the broker's own); else the configuration's name, or its none (null), holds.
  const identity = second.identity !== undefined ? second.identity : first.identity;
  if (identity !== undefined) merged.identity = identity;
  if (first.grants === undefined) return merged;
  if (second.grants === undefined) return { ...merged, grants: first.grants };
  // Both limit the client: keep both lists (a topic must pass each source's list).
  const narrowed: ClientGrants = {};
  const publish = intersectLists(first.grants.publish, second.grants.publish);
  const subscribe = intersectLists(first.grants.subscribe, second.grants.subscribe);
  if (publish !== undefined) narrowed.publish = publish;
  if (subscribe !== undefined) narrowed.subscribe = subscribe;
  return { ...merged, grants: narrowed };
}

/** Two limits on the same thing: keep the stricter one where one is absent, else the filters both allow verbatim. */
function intersectLists(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.filter((filter) => b.includes(filter));
}
