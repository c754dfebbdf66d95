/**
 * The broker's user hooks. Each may be sync or async; the core awaits them
 * in packet order per client, bounds each by a time limit, and turns a hook
 * that throws or runs out of time into a refusal of that one action (logged),
 * never into a broken connection or namespace.
 */
import type { ProtocolLevel, QoS } from '../../shared/codec/basic-types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { CloseCause } from './close-cause.ts';
import { describeError, type Logger } from './log.ts';
import type { MessageProperties } from './message.ts';

/** Who a hook is asked about. */
export interface ClientInfo {
  namespace: string;
  clientId: string;
  /**
   * To `authenticate`: the CONNECT's username. After it: who authentication
   * says the client is (its identity, e.g. a JWT's `sub`), which is what the
   * ACL knows it by; absent when its credentials vouch for no name.
   */
  username?: string;
  protocolLevel: ProtocolLevel;
  /** The client's address: from the runtime, or from the trusted sidecar. */
  remoteAddress?: string;
}

export interface AuthenticateContext extends ClientInfo {
  /** The raw password bytes (MQTT passwords are binary). Never log them. */
  password?: Uint8Array;
  clean: boolean;
  keepAlive: number;
  /** MQTT 5 enhanced authentication: the method the client named in CONNECT. */
  authenticationMethod?: string;
  /** The client's data: from CONNECT (step 0), then from each AUTH packet. */
  authenticationData?: Uint8Array;
  /** 0 for the CONNECT, 1, 2, ... for each AUTH of the exchange. */
  authenticationStep?: number;
  /** True when a connected client re-authenticates (AUTH 0x19). */
  reauthenticate?: boolean;
}

/**
 * Topic filters a client is limited to for this connection (for example
 * from a JWT's claims). Absent lists mean no limit from this source.
 */
export interface ClientGrants {
  publish?: string[];
  subscribe?: string[];
}

export interface AllowDecision {
  allow: true;
  grants?: ClientGrants;
  /**
   * The name the namespace's ACL knows this client by, when it is not the
   * CONNECT's username (a JWT's `sub`, for example); `null`: none, whatever
   * username the client gave (credentials that vouch for no name, such as a
   * JWT without `sub`, must not let the client pick its ACL block). Hooks
   * after CONNECT see it as `username`.
   */
  identity?: string | null;
  /** Final data for the client at the end of an enhanced authentication. */
  authenticationData?: Uint8Array;
}

export interface DenyDecision {
  allow: false;
  /**
   * bad-credentials → 0x04 / 0x86; not-authorized (default) → 0x05 / 0x87; banned → 0x05 / 0x8A;
   * bad-authentication-method (5.0 only) → 0x8C.
   */
  reason?: 'bad-credentials' | 'not-authorized' | 'banned' | 'bad-authentication-method';
  /** Why, in words: the 5.0 CONNACK's Reason String (when the client allows one) and the log line; default: the reason's name. */
  message?: string;
}

/** Enhanced authentication (5.0): send this challenge in AUTH 0x18 and call again with the client's answer. */
export interface ChallengeDecision {
  challenge: Uint8Array;
}

export type AuthDecision = AllowDecision | DenyDecision | ChallengeDecision;

export interface DisconnectContext extends ClientInfo {
  cause: CloseCause;
}

export interface SubscribeContext extends ClientInfo {
  /** The filter as requested, including any `$share/{group}/` prefix. */
  filter: string;
  qos: QoS;
}

/** Allow (optionally at a lower QoS), or refuse this one filter. */
export type SubscribeDecision = boolean | { allow: true; qos?: QoS } | { allow: false; reasonCode?: number };

export interface UnsubscribeContext extends ClientInfo {
  filter: string;
}

export interface PublishContext extends ClientInfo {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 properties that travel with the message (undefined for 3.x). */
  properties?: MessageProperties & { messageExpiryInterval?: number };
}

/** Allow, or refuse: QoS 0 is dropped silently, QoS 1/2 get the reason code (5.0) — 0x87 by default. */
export type PublishDecision = boolean | { allow: true } | { allow: false; reasonCode?: number };

export interface DeliveryContext {
  namespace: string;
  /** The subscriber the message is about to be delivered to. */
  clientId: string;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** The publisher's client id; undefined for wills of expired sessions and the HTTP API. */
  publisherClientId?: string;
}

export interface BrokerHooks {
  /** Decides whether a client may connect. Without it, everyone may (see MQTT_ALLOW_ANONYMOUS). */
  authenticate?(ctx: AuthenticateContext): AuthDecision | Promise<AuthDecision>;
  /** After CONNACK was sent. */
  onConnect?(ctx: ClientInfo): void | Promise<void>;
  /** After the connection ended, with why. */
  onDisconnect?(ctx: DisconnectContext): void | Promise<void>;
  /** Per filter of a SUBSCRIBE, before it is stored. */
  onSubscribe?(ctx: SubscribeContext): SubscribeDecision | Promise<SubscribeDecision>;
  /** Per filter of an UNSUBSCRIBE. */
  onUnsubscribe?(ctx: UnsubscribeContext): void | Promise<void>;
  /** Per PUBLISH, before it is routed. */
  onPublish?(ctx: PublishContext): PublishDecision | Promise<PublishDecision>;
  /** Per subscriber of a routed message; return false to skip that subscriber. */
  onDeliver?(ctx: DeliveryContext): boolean | Promise<boolean>;
}

export type HookName = keyof BrokerHooks;

/**
 * What every hook context carries besides its own fields: the host's
 * bindings, and a way to let work outlive the hook. The core knows neither:
 * its host (the Durable Object) passes them in as `hookEnvironment`.
 *
 * @example
 * defineBroker<Env>({
 *   onConnect({ clientId, env, waitUntil }) {
 *     waitUntil(env.DB.prepare('INSERT INTO logins (client_id, at) VALUES (?, ?)').bind(clientId, Date.now()).run());
 *   },
 * });
 */
export interface HookEnvironment<Env = unknown> {
  /** The Worker's bindings: D1, KV, R2, Queues, [vars] and secrets. */
  readonly env: Env;
  /**
   * Keeps `promise` running after the hook returned, so a hook can write to
   * a Queue or D1 without holding up the packet it was asked about. A
   * rejection is logged (`hook_background_failed`), never thrown.
   */
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * The hooks as the user writes them: each context also carries the
 * HookEnvironment. Derived from BrokerHooks so the two lists cannot drift;
 * the core binds the environment once (bindHookEnvironment) and then calls
 * plain BrokerHooks.
 */
export type UserHooks<Env = unknown> = {
  [Name in keyof BrokerHooks]?: (ctx: HookContext<Name> & HookEnvironment<Env>) => ReturnType<NonNullable<BrokerHooks[Name]>>;
};

/**
 * User hooks written for any Env. A hook for one Env accepts a context whose
 * `env` is `never` (assignable to every Env), so every UserHooks<Env> fits;
 * the host vouches that the environment it binds is the one they were written for.
 */
export type AnyUserHooks = UserHooks<never>;

/** The context the core builds for one hook (without the environment). */
export type HookContext<Name extends HookName> = Parameters<NonNullable<BrokerHooks[Name]>>[0];

/** Every hook, for binding them one by one: a Record, so a hook added to BrokerHooks fails the build here until it is listed. */
const HookNames: Record<HookName, true> = {
  authenticate: true,
  onConnect: true,
  onDisconnect: true,
  onSubscribe: true,
  onUnsubscribe: true,
  onPublish: true,
  onDeliver: true,
};

/** A host without bindings or an event to extend (unit tests): background work just runs. */
const DetachedEnvironment: HookEnvironment = { env: {}, waitUntil: () => {} };

/**
 * The codec's bytes are Node Buffers, whose `slice()` is a view into the
 * whole packet; a hook is promised a Uint8Array, whose `slice()` copies. A
 * plain Uint8Array over the same bytes keeps that promise without a copy.
 */
function plainBytes(value: unknown): unknown {
  return value instanceof Uint8Array && value.constructor !== Uint8Array ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value;
}

/**
 * Adds the environment to every context, in this one place, so no packet
 * handler has to know about it. Each call gets a copy of its context (the
 * core may reuse the object it built), its byte fields as plain Uint8Arrays.
 */
export function bindHookEnvironment(hooks: AnyUserHooks, log: Logger, environment: HookEnvironment = DetachedEnvironment): BrokerHooks {
  const bound: Record<string, (ctx: object) => unknown> = {};
  for (const name of Object.keys(HookNames) as HookName[]) {
    const hook = hooks[name] as ((ctx: object) => unknown) | undefined;
    if (hook === undefined) continue;
    const waitUntil = (promise: Promise<unknown>): void =>
      environment.waitUntil(
        Promise.resolve(promise).catch((error: unknown) => log.log('error', 'hook_background_failed', { hook: name, error: describeError(error) })),
      );
    bound[name] = (ctx) => {
      const context: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(ctx)) context[key] = plainBytes(value);
      context['env'] = environment.env;
      context['waitUntil'] = waitUntil;
      return hook.call(hooks, context);
    };
  }
  return bound as BrokerHooks;
}

/** Default time limit for one hook call. */
export const DefaultHookTimeoutMs = 5000;

export class HookTimeoutError extends Error {
  override readonly name = 'HookTimeoutError';
}

/**
 * Runs one hook with a time limit. Resolves to the hook's value, or rejects
 * with the hook's error / HookTimeoutError; callers map a rejection to a refusal.
 */
export async function callWithTimeout<T>(name: string, timeoutMs: number, call: () => T | Promise<T>): Promise<T> {
  const result = call();
  if (!(result instanceof Promise)) return result;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HookTimeoutError(`hook ${name} took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([result, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function normalizeSubscribeDecision(decision: SubscribeDecision): { allow: true; qos?: QoS } | { allow: false; reasonCode?: number } {
  if (decision === true) return { allow: true };
  if (decision === false) return { allow: false };
  return decision;
}

export function normalizePublishDecision(decision: PublishDecision): { allow: true } | { allow: false; reasonCode?: number } {
  if (decision === true) return { allow: true };
  if (decision === false) return { allow: false };
  return decision;
}

/** A hook's answer, or that it failed (threw or ran out of time). */
export type HookOutcome<T> = { ok: true; value: T } | { ok: false };

/**
 * Calls a user hook within its time limit. A hook that throws or runs out
 * of time is logged and reported as failed; the caller refuses that one action.
 */
export async function runHook<T>(name: HookName, timeoutMs: number, log: Logger, clientId: string | undefined, call: () => T | Promise<T>): Promise<HookOutcome<T>> {
  try {
    return { ok: true, value: await callWithTimeout(name, timeoutMs, call) };
  } catch (error) {
    const failure = new MqttError('Hook', ReasonCode.UnspecifiedError, `hook ${name} failed: ${describeError(error)}`, { cause: error });
    log.log('error', 'hook_failed', { kind: failure.kind, hook: name, client: clientId, error: failure.message });
    return { ok: false };
  }
}
