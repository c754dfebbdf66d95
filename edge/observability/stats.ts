/**
 * One namespace's statistics as the admin API, `/metrics` and the dashboard
 * see them: the core's live numbers plus what is derived from them.
 */
import { version } from '../../package.json';
import type { CoreStats, FlowStats } from '../core/readouts.ts';
import { estimateMemory, type MemoryEstimate } from '../core/memory-estimate.ts';
import type { MetricCounters } from '../core/metrics.ts';
import type { RuleReport } from '../rules/rules.ts';
import type { ObjectStats } from '../gateway/object-stats.ts';

/** The broker's version, as `$SYS/broker/version` and `mqtt_info` report it. */
export const BrokerVersion: string = version;
export const BrokerProduct = 'edge-mqtt-broker';

export interface NamespaceStats {
  namespace: string;
  version: string;
  /** When these numbers were read (ms since the epoch). */
  now: number;
  /** When the namespace was created (ms); counters count from then. */
  createdAt: number;
  uptimeSeconds: number;
  /** Clients connected now. */
  connected: number;
  /** Sessions, connected or not (mosquitto's `clients/total`). */
  sessions: number;
  /** Sessions whose client is not connected (mosquitto's `clients/disconnected`). */
  disconnected: number;
  /** Subscriptions in the topic tree, $SYS ones included. */
  subscriptions: number;
  /** Retained messages, the broker's own $SYS ones included. */
  retained: number;
  /** Connected clients the stall watchdog sees with queued messages and a free window. */
  stalled: number;
  /** Totals since the namespace was created. */
  counters: MetricCounters;
  /** MQTT_RULES, rule by rule (empty without rules): what `GET /admin/<ns>/rules` and the `mqtt_rule_*` metrics show. */
  rules: RuleReport[];
  /** The namespace's Durable Objects: its core, and the gateways that hold its clients (MQTT_GATEWAYS > 1). */
  objects?: ObjectStats[];
  /** Whether it keeps up with its clients, and whom it slows (core/fair-share.ts). */
  flow: FlowStats;
  /** What the core's isolate holds, estimated from what it counts (workerd tells a Worker nothing of its heap). */
  memory: MemoryEstimate;
}

export function namespaceStats(core: { stats(): CoreStats }, namespace: string, now: number): NamespaceStats {
  const stats = core.stats();
  // A connected client always has a session row; max() only guards the count against a race with cleanup.
  const sessions = Math.max(stats.sessions, stats.connected);
  return {
    namespace,
    version: BrokerVersion,
    now,
    createdAt: stats.createdAt,
    uptimeSeconds: Math.max(0, Math.floor((now - stats.createdAt) / 1000)),
    connected: stats.connected,
    sessions,
    disconnected: sessions - stats.connected,
    subscriptions: stats.subscriptions,
    retained: stats.retained,
    stalled: stats.stalled,
    counters: stats.counters,
    rules: stats.rules ?? [],
    flow: stats.flow ?? { behindMs: 0, pendingBytes: 0, partialBytes: 0, slowedClients: 0, heldAcks: 0 },
    memory:
      stats.memory ??
      estimateMemory({ connected: stats.connected, subscriptions: stats.subscriptions, pendingInputBytes: 0, partialBytes: 0, heldAcks: 0, unflushedBytes: 0 }),
  };
}
