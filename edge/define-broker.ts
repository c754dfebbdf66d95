/**
 * The public entry point for a user's Worker.
 *
 * @example
 * // src/worker.ts of your own project
 * import { defineBroker, type EdgeEnv } from 'edge-mqtt-broker';
 *
 * interface Env extends EdgeEnv { MESSAGES: Queue<{ topic: string }> }
 *
 * const broker = defineBroker<Env>({
 *   maxConnections: 1000,
 *   authenticate: ({ username, password }) =>
 *     username === 'admin' && password !== undefined && new TextDecoder().decode(password) === 'secret'
 *       ? { allow: true } : { allow: false, reason: 'bad-credentials' },
 *   onPublish: ({ topic, env, waitUntil }) => { waitUntil(env.MESSAGES.send({ topic })); return true; },
 * });
 * export const { BrokerNamespace, BrokerApi } = broker;
 * export default broker.worker;
 */
import { WorkerEntrypoint } from 'cloudflare:workers';
import { accessPolicyFor, composeHooks, loadAccessConfig, settingsFor } from './access.ts';
import type { BrokerNamespaceClass, BrokerNamespaceRpc, BrokerResolver, ResolvedBroker } from './broker-types.ts';
import { loadEdgeConfig } from './config.ts';
import type { EdgeEnv } from './env.ts';
import type { UserHooks } from './core/hooks.ts';
import type { BrokerLimits } from './core/limits.ts';
import type { LogLevel } from './core/log.ts';
import { checkApiMessage, type ApiMessage } from './http-api.ts';
import { NamespaceNamePattern } from './namespaces.ts';
import { createBrokerNamespaceClass } from './namespace-object.ts';
import type { NamespaceStats } from './observability/stats.ts';
import { loadRulesConfig } from './rules/config.ts';
import { createWorkerHandler } from './worker-handler.ts';

export type { BrokerNamespaceRpc, ResolvedBroker } from './broker-types.ts';
export type { RetainedSummary } from './core/readouts.ts';

/**
 * The broker's settings and hooks. `Env` is your Worker's bindings: every
 * hook's context carries them as `env`, with `waitUntil` for work that
 * should not hold up the packet (a Queue send, a D1 write).
 */
export interface BrokerOptions<Env extends EdgeEnv = EdgeEnv> extends UserHooks<Env> {
  /** Maximum concurrent connections per namespace (0 = unlimited). MQTT_MAX_CONNECTIONS overrides it. */
  maxConnections?: number;
  /** Any other limit; MQTT_MAX_* variables override these. */
  limits?: Partial<BrokerLimits>;
  /** Time limit for one hook call, ms (default 5000). */
  hookTimeoutMs?: number;
  logLevel?: LogLevel;
  /** Seconds between $SYS updates while someone subscribes (default 10; 0 = no $SYS tree). MQTT_SYS_INTERVAL overrides it. */
  sysInterval?: number;
}

export interface DefinedBroker<Env extends EdgeEnv = EdgeEnv> {
  /**
   * The Worker's fetch handler: `export default broker.worker`, or
   * `export default { ...broker.worker, queue }` beside handlers of your own.
   */
  worker: { fetch: ExportedHandlerFetchHandler<Env> };
  /** The Durable Object class: export it under the `class_name` of wrangler.toml. */
  BrokerNamespace: BrokerNamespaceClass;
  /** A WorkerEntrypoint other Workers bind to (service binding) to publish without an MQTT client. */
  BrokerApi: new (ctx: ExecutionContext, env: EdgeEnv) => WorkerEntrypoint<EdgeEnv> & {
    publish(namespace: string, message: ApiMessage): Promise<void>;
    stats(namespace: string): Promise<NamespaceStats>;
  };
}

/**
 * Builds a broker: its fetch handler, its namespace Durable Object class and
 * its RPC entrypoint, from settings and hooks.
 *
 * @example
 * const broker = defineBroker({ onConnect: ({ clientId }) => console.log('hello', clientId) });
 * export const { BrokerNamespace, BrokerApi } = broker;
 * export default broker.worker;
 */
export function defineBroker<Env extends EdgeEnv = EdgeEnv>(options: BrokerOptions<Env> = {}): DefinedBroker<Env> {
  const { maxConnections, limits, hookTimeoutMs, logLevel, sysInterval, ...userHooks } = options;
  const resolve = memoizedPerEnvironment((env: EdgeEnv): ResolvedBroker => {
    // Code sets defaults; [vars]/secrets override them, so an operator can tune without a redeploy.
    const fromEnv = loadEdgeConfig(env, { ...limits, ...(maxConnections === undefined ? {} : { maxConnections }) }, sysInterval === undefined ? {} : { sysInterval });
    const access = loadAccessConfig(env);
    return {
      limits: fromEnv.limits,
      // The hooks are called with the environment the broker was resolved for: Env is the user's name for it.
      hooks: composeHooks(access, userHooks as UserHooks<EdgeEnv>),
      hooksFor: (settingsOf) => composeHooks(access, userHooks as UserHooks<EdgeEnv>, settingsOf),
      hookTimeoutMs: hookTimeoutMs ?? 5000,
      logLevel: (env.MQTT_LOG_LEVEL as LogLevel | undefined) ?? logLevel ?? 'info',
      logEvents: fromEnv.logEvents,
      sysIntervalMs: fromEnv.sysIntervalMs,
      gateways: fromEnv.gateways,
      flow: fromEnv.flow,
      namespaces: fromEnv.namespaces,
      trustConnectingIp: fromEnv.trustConnectingIp,
      takeover: fromEnv.takeover,
      rules: loadRulesConfig(env),
      accessFor: (namespace) => {
        const settings = settingsFor(access, namespace);
        const policy = accessPolicyFor(access, namespace);
        return {
          settings,
          ...(policy === undefined ? {} : { policy }),
          ...(settings.adminToken === undefined ? {} : { adminToken: settings.adminToken }),
          ...(settings.apiToken === undefined ? {} : { apiToken: settings.apiToken }),
        };
      },
    };
  });
  const BrokerNamespace = createBrokerNamespaceClass(resolve);

  class BrokerApi extends WorkerEntrypoint<EdgeEnv> {
    /**
     * Publishes into `namespace` as the HTTP API does, held to the same
     * checks: a declared namespace, and a message within the limits of a
     * client's PUBLISH. Throws a TypeError saying what is wrong otherwise.
     */
    async publish(namespace: string, message: ApiMessage): Promise<void> {
      const resolved = resolve(this.env);
      const checked = checkApiMessage(message, resolved.limits);
      if (!checked.ok) throw new TypeError(`BrokerApi.publish: ${checked.error}`);
      const refusal = await declaredStub(this.env, resolved, namespace, 'publish').publish(checked.message);
      if (refusal !== undefined) throw new TypeError(`BrokerApi.publish: ${refusal.error}`);
    }

    /** The namespace's statistics, as `GET /admin/<namespace>/stats` returns them. */
    async stats(namespace: string): Promise<NamespaceStats> {
      return declaredStub(this.env, resolve(this.env), namespace, 'stats').stats();
    }
  }

  const worker = createWorkerHandler(resolve) as { fetch: ExportedHandlerFetchHandler<EdgeEnv> };
  return { worker: worker as unknown as DefinedBroker<Env>['worker'], BrokerNamespace, BrokerApi };
}

/**
 * The namespace's object, for a declared namespace only: as for every
 * request the Worker routes, an undeclared name is refused before any
 * object is addressed (addressing one by a new name creates it).
 */
function declaredStub(env: EdgeEnv, resolved: ResolvedBroker, namespace: string, method: string): BrokerNamespaceRpc {
  if (typeof namespace !== 'string' || !NamespaceNamePattern.test(namespace) || !resolved.namespaces.has(namespace)) {
    throw new TypeError(`BrokerApi.${method}: unknown namespace "${String(namespace).slice(0, 64)}": declare it in MQTT_NAMESPACES`);
  }
  return env.BROKER.get(env.BROKER.idFromName(namespace)) as unknown as BrokerNamespaceRpc;
}

/**
 * Resolving parses the password file, the ACL and the JWKS: done once per
 * environment object (one per isolate), not per request. A configuration
 * error is remembered too, and thrown again on every request that needs it.
 */
function memoizedPerEnvironment(resolve: (env: EdgeEnv) => ResolvedBroker): BrokerResolver {
  const cache = new WeakMap<object, { resolved: ResolvedBroker } | { error: unknown }>();
  return (env) => {
    let entry = cache.get(env);
    if (entry === undefined) {
      try {
        entry = { resolved: resolve(env) };
      } catch (error) {
        entry = { error };
      }
      cache.set(env, entry);
    }
    if ('error' in entry) throw entry.error;
    return entry.resolved;
  };
}
