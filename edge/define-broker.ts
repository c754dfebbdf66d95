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
import { composeHooks, loadAccessConfig } from './access.ts';
import { createBrokerNamespaceClass } from './broker-object.ts';
import { loadEdgeConfig } from './config.ts';
import type { EdgeEnv } from './env.ts';
import type { BrokerHooks } from './core/hooks.ts';
import type { BrokerLimits } from './core/limits.ts';
import type { LogLevel } from './core/log.ts';
import { type ApiMessage } from './http-api.ts';
import { createWorkerHandler } from './worker-handler.ts';

export interface BrokerOptions extends BrokerHooks {
  /** Maximum concurrent connections per namespace (0 = unlimited). MQTT_MAX_CONNECTIONS overrides it. */
  maxConnections?: number;
  /** Any other limit; MQTT_MAX_* variables override these. */
  limits?: Partial<BrokerLimits>;
  /** Time limit for one hook call, ms (default 5000). */
  hookTimeoutMs?: number;
  logLevel?: LogLevel;
}

/** What a namespace's Durable Object offers other code (Durable Object RPC). */
export interface BrokerNamespaceRpc {
  publish(message: ApiMessage): Promise<void>;
}

export interface DefinedBroker {
  /** The Worker's fetch handler: `export default broker.worker`. */
  worker: ExportedHandler<EdgeEnv>;
  /** The Durable Object class: export it under the `class_name` of wrangler.toml. */
  BrokerNamespace: new (ctx: DurableObjectState, env: EdgeEnv) => DurableObject<EdgeEnv> & BrokerNamespaceRpc;
  /** A WorkerEntrypoint other Workers bind to (service binding) to publish without an MQTT client. */
  BrokerApi: new (ctx: ExecutionContext, env: EdgeEnv) => WorkerEntrypoint<EdgeEnv> & { publish(namespace: string, message: ApiMessage): Promise<void> };
}

/** Everything a namespace needs, resolved from the options and the environment. */
export interface ResolvedBroker {
  limits: BrokerLimits;
  hooks: BrokerHooks;
  hookTimeoutMs: number;
  logLevel: LogLevel;
}

export function defineBroker(options: BrokerOptions = {}): DefinedBroker {
  const { maxConnections, limits, hookTimeoutMs, logLevel, ...userHooks } = options;
  const resolve = (env: EdgeEnv): ResolvedBroker => {
    // Code sets defaults; [vars]/secrets override them, so an operator can tune without a redeploy.
    const fromEnv = loadEdgeConfig(env, { ...limits, ...(maxConnections === undefined ? {} : { maxConnections }) });
    return {
      limits: fromEnv.limits,
      hooks: composeHooks(loadAccessConfig(env), userHooks),
      hookTimeoutMs: hookTimeoutMs ?? 5000,
      logLevel: (env.MQTT_LOG_LEVEL as LogLevel | undefined) ?? logLevel ?? 'info',
    };
  };
  const BrokerNamespace = createBrokerNamespaceClass(resolve);

  class BrokerApi extends WorkerEntrypoint<EdgeEnv> {
    /** Publishes into `namespace` as the HTTP API does. */
    async publish(namespace: string, message: ApiMessage): Promise<void> {
      const stub = this.env.BROKER.get(this.env.BROKER.idFromName(namespace)) as unknown as BrokerNamespaceRpc;
      await stub.publish(message);
    }
  }

  return { worker: createWorkerHandler(resolve), BrokerNamespace, BrokerApi };
}
