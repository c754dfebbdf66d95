/** The model test's driver for the namespace core in-process (test/core/harness.ts). */
import type { MqttPacket } from '../../shared/codec/types.ts';
import type { BrokerLimits } from '../../edge/core/limits.ts';
import { CoreHarness, type HarnessConnection } from '../core/harness.ts';
import type { Peer, WireConnection } from './peer.ts';
import type { Driver, NamespaceCounts } from './world.ts';

/** Log events a correct run never causes. */
const Problems = new Set(['handler_failed', 'message_failed', 'will_failed', 'connection.protocol-error', 'stall_detected', 'queue_full_dropped_oldest', 'retained_limit']);

export async function inProcessDriver(limits: Partial<BrokerLimits>): Promise<Driver> {
  const harness = await CoreHarness.create({ limits });
  const pending: Array<Promise<void>> = [];
  let logsSeen = 0;

  const wrap = (connection: HarnessConnection): WireConnection => {
    const wire: WireConnection = {
      send: (packet: MqttPacket) => void pending.push(connection.send(packet)),
      drop: () => void pending.push(connection.drop()),
      get isOpen() {
        return connection.isOpen;
      },
      onPacket: undefined,
    };
    connection.onPacket = (packet) => wire.onPacket?.(packet);
    return wire;
  };

  return {
    name: 'in-process',
    now: () => harness.now,
    open: () => wrap(harness.open()),
    async quiesce(peers: Peer[]) {
      for (;;) {
        let moved = false;
        for (const peer of peers) if (peer.flush()) moved = true;
        if (pending.length > 0) {
          moved = true;
          // Packets of one connection are handled in order; those of different ones interleave as they would.
          await Promise.all(pending.splice(0));
        }
        if (!moved) return;
      }
    },
    advance: (ms) => harness.advance(ms),
    async restart() {
      await Promise.all(pending.splice(0));
      await harness.hibernate();
    },
    clients: async () => harness.core.listClients(1000),
    async counts(): Promise<NamespaceCounts> {
      const stats = harness.core.stats();
      return { connected: stats.connected, sessions: stats.sessions, subscriptions: stats.subscriptions, retained: stats.retained, publishDropped: stats.counters.publishDropped, stallsDetected: stats.counters.stallsDetected, acksUnmatched: stats.counters.acksUnmatched };
    },
    problems() {
      const fresh = harness.logs.slice(logsSeen);
      logsSeen = harness.logs.length;
      return fresh.filter((record) => Problems.has(record.event) || record.level === 'error').map((record) => `broker logged ${record.level} ${record.event} ${JSON.stringify(record.fields)}`);
    },
    close: async () => harness.close(),
  };
}
