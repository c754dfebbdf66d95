/**
 * The package `edge-mqtt-broker`: what a user's Worker imports. Everything
 * else under edge/ and shared/ is internal and may change between versions.
 *
 * The hook contexts here are the ones a hook receives: the core's context
 * plus the HookEnvironment (`env`, `waitUntil`), typed for your `Env`.
 *
 * @example
 * // src/worker.ts
 * import { defineBroker, type EdgeEnv, type PublishContext } from 'edge-mqtt-broker';
 *
 * interface Env extends EdgeEnv { MESSAGES: Queue<{ topic: string }> }
 *
 * function onPublish({ topic, env, waitUntil }: PublishContext<Env>): boolean {
 *   waitUntil(env.MESSAGES.send({ topic }));
 *   return true;
 * }
 *
 * const broker = defineBroker<Env>({ onPublish });
 * export const { BrokerNamespace, BrokerApi } = broker;
 * export default broker.worker;
 */
import type * as Core from './core/hooks.ts';
import type { EdgeEnv } from './env.ts';

export { defineBroker, type BrokerOptions, type DefinedBroker } from './define-broker.ts';
export type { EdgeEnv } from './env.ts';
export type { EdgeVars } from './config.ts';
export type { BrokerNamespaceClass, BrokerNamespaceRpc } from './broker-types.ts';
export type { ApiMessage } from './http-api.ts';
export type { NamespaceStats } from './observability/stats.ts';
export type { ClientSummary, RetainedSummary } from './core/readouts.ts';
export type { BrokerLimits } from './core/limits.ts';
export type { LogLevel } from './core/log.ts';
export type { CloseCause } from './core/close-cause.ts';
export type { MessageProperties } from './core/message.ts';
export type { ProtocolLevel, QoS, UserProperties } from '../shared/codec/basic-types.ts';
export type {
  AllowDecision,
  AuthDecision,
  ChallengeDecision,
  ClientGrants,
  DenyDecision,
  HookEnvironment,
  PublishDecision,
  SubscribeDecision,
} from './core/hooks.ts';

/** The hooks of `defineBroker`, each context carrying `env: Env` and `waitUntil`. */
export type BrokerHooks<Env = EdgeEnv> = Core.UserHooks<Env>;

/** `onConnect`: who connected (after CONNACK). */
export type ClientInfo<Env = EdgeEnv> = Core.ClientInfo & Core.HookEnvironment<Env>;
/** `authenticate`: the CONNECT (or AUTH) to decide on. */
export type AuthenticateContext<Env = EdgeEnv> = Core.AuthenticateContext & Core.HookEnvironment<Env>;
/** `onDisconnect`: who left, and why. */
export type DisconnectContext<Env = EdgeEnv> = Core.DisconnectContext & Core.HookEnvironment<Env>;
/** `onSubscribe`: one filter of a SUBSCRIBE. */
export type SubscribeContext<Env = EdgeEnv> = Core.SubscribeContext & Core.HookEnvironment<Env>;
/** `onUnsubscribe`: one filter of an UNSUBSCRIBE. */
export type UnsubscribeContext<Env = EdgeEnv> = Core.UnsubscribeContext & Core.HookEnvironment<Env>;
/** `onPublish`: a PUBLISH (or a will) before it is routed. */
export type PublishContext<Env = EdgeEnv> = Core.PublishContext & Core.HookEnvironment<Env>;
/** `onDeliver`: one subscriber of a routed message. */
export type DeliveryContext<Env = EdgeEnv> = Core.DeliveryContext & Core.HookEnvironment<Env>;
