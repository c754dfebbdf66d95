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
import type { BrokerCore, ClientSummary } from './core/broker.ts';
import type { BrokerHooks } from './core/hooks.ts';
import type { BrokerLimits } from './core/limits.ts';
import type { LogLevel } from './core/log.ts';
import { type ApiMessage } from './http-api.ts';
import type { NamespaceStats } from './observability/stats.ts';
import { createWorkerHandler } from './worker-handler.ts';

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

/** One retained message as the admin API lists it. */
export type RetainedSummary = ReturnType<BrokerCore['listRetained']>[number];

/** What a namespace's Durable Object offers other code (Durable Object RPC). */
export interface BrokerNamespaceRpc {
  publish(message: ApiMessage): Promise<void>;
  /** Live numbers and counters of the namespace (admin API, /metrics, dashboard). */
  stats(): Promise<NamespaceStats>;
  /** Sessions (online first) with their subscriptions, at most `limit`. */
  listClients(limit: number): Promise<ClientSummary[]>;
  /** Disconnects a connected client (5.0: DISCONNECT 0x98); false if it is not connected. */
  disconnectClient(clientId: string): Promise<boolean>;
  listRetained(limit: number): Promise<RetainedSummary[]>;
  /** Deletes the retained message of one topic; false if there was none. */
  deleteRetained(topic: string): Promise<boolean>;
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

/** Everything a namespace needs, resolved from the options and the environment. */
export interface ResolvedBroker {
  limits: BrokerLimits;
  hooks: BrokerHooks;
  hookTimeoutMs: number;
  logLevel: LogLevel;
  /** $SYS publishing interval, ms; 0 = no $SYS tree. */
  sysIntervalMs: number;
}

export function defineBroker(options: BrokerOptions = {}): DefinedBroker {
  const { maxConnections, limits, hookTimeoutMs, logLevel, sysInterval, ...userHooks } = options;
  const resolve = (env: EdgeEnv): ResolvedBroker => {
    // Code sets defaults; [vars]/secrets override them, so an operator can tune without a redeploy.
    const fromEnv = loadEdgeConfig(env, { ...limits, ...(maxConnections === undefined ? {} : { maxConnections }) }, sysInterval === undefined ? {} : { sysInterval });
    return {
      limits: fromEnv.limits,
      hooks: composeHooks(loadAccessConfig(env), userHooks),
      hookTimeoutMs: hookTimeoutMs ?? 5000,
      logLevel: (env.MQTT_LOG_LEVEL as LogLevel | undefined) ?? logLevel ?? 'info',
      sysIntervalMs: fromEnv.sysIntervalMs,
    };
  };
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
