/**
 * The public entry point for a user's Worker.
 *
 * @example
 * // worker.ts of your own project
 * import { defineBroker } from 'edge-mqtt-broker';
 * const broker = defineBroker({
 *   maxConnections: 1000,
 *   authenticate: ({ username, password }) =>
 *     username === 'admin' && new TextDecoder().decode(password) === 'secret'
 *       ? { allow: true } : { allow: false, reason: 'bad-credentials' },
 *   onPublish: ({ clientId, topic }) => { console.log(clientId, 'published to', topic); return true; },
 * });
 * export const { BrokerNamespace, BrokerApi } = broker;
 * export default broker.worker;
 */
import { DurableObject, WorkerEntrypoint } from 'cloudflare:workers';
import { accessPolicyFor, composeHooks, loadAccessConfig, settingsFor } from './access.ts';
import type { BrokerNamespaceRpc, BrokerResolver, ResolvedBroker } from './broker-types.ts';
import { loadEdgeConfig } from './config.ts';
import type { EdgeEnv } from './env.ts';
import type { BrokerHooks } from './core/hooks.ts';
import type { BrokerLimits } from './core/limits.ts';
import type { LogLevel } from './core/log.ts';
import type { ApiMessage } from './http-api.ts';
import { createBrokerNamespaceClass } from './namespace-object.ts';
import type { NamespaceStats } from './observability/stats.ts';
import { createWorkerHandler } from './worker-handler.ts';

export type { BrokerNamespaceRpc, ResolvedBroker } from './broker-types.ts';
export type { RetainedSummary } from './core/readouts.ts';

export interface BrokerOptions extends BrokerHooks {
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

export interface DefinedBroker {
  /** The Worker's fetch handler: `export default broker.worker`. */
  worker: ExportedHandler<EdgeEnv>;
  /** The Durable Object class: export it under the `class_name` of wrangler.toml. */
  BrokerNamespace: new (ctx: DurableObjectState, env: EdgeEnv) => DurableObject<EdgeEnv> & BrokerNamespaceRpc;
  /** A WorkerEntrypoint other Workers bind to (service binding) to publish without an MQTT client. */
  BrokerApi: new (ctx: ExecutionContext, env: EdgeEnv) => WorkerEntrypoint<EdgeEnv> & {
    publish(namespace: string, message: ApiMessage): Promise<void>;
    stats(namespace: string): Promise<NamespaceStats>;
  };
}

export function defineBroker(options: BrokerOptions = {}): DefinedBroker {
  const { maxConnections, limits, hookTimeoutMs, logLevel, sysInterval, ...userHooks } = options;
  const resolve = memoizedPerEnvironment((env: EdgeEnv): ResolvedBroker => {
    // Code sets defaults; [vars]/secrets override them, so an operator can tune without a redeploy.
    const fromEnv = loadEdgeConfig(env, { ...limits, ...(maxConnections === undefined ? {} : { maxConnections }) }, sysInterval === undefined ? {} : { sysInterval });
    const access = loadAccessConfig(env);
    return {
      limits: fromEnv.limits,
      hooks: composeHooks(access, userHooks),
      hookTimeoutMs: hookTimeoutMs ?? 5000,
      logLevel: (env.MQTT_LOG_LEVEL as LogLevel | undefined) ?? logLevel ?? 'info',
      sysIntervalMs: fromEnv.sysIntervalMs,
      namespaces: fromEnv.namespaces,
      trustConnectingIp: fromEnv.trustConnectingIp,
      takeover: fromEnv.takeover,
      accessFor: (namespace) => {
        const settings = settingsFor(access, namespace);
        const policy = accessPolicyFor(access, namespace);
        return {
          ...(policy === undefined ? {} : { policy }),
          ...(settings.adminToken === undefined ? {} : { adminToken: settings.adminToken }),
          ...(settings.apiToken === undefined ? {} : { apiToken: settings.apiToken }),
        };
      },
    };
  });
  const BrokerNamespace = createBrokerNamespaceClass(resolve);

  class BrokerApi extends WorkerEntrypoint<EdgeEnv> {
    /** Publishes into `namespace` as the HTTP API does. */
    async publish(namespace: string, message: ApiMessage): Promise<void> {
      const stub = this.env.BROKER.get(this.env.BROKER.idFromName(namespace)) as unknown as BrokerNamespaceRpc;
      await stub.publish(message);
    }

    /** The namespace's statistics, as `GET /admin/<namespace>/stats` returns them. */
    async stats(namespace: string): Promise<NamespaceStats> {
      const stub = this.env.BROKER.get(this.env.BROKER.idFromName(namespace)) as unknown as BrokerNamespaceRpc;
      return stub.stats();
    }
  }

  return { worker: createWorkerHandler(resolve), BrokerNamespace, BrokerApi };
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
