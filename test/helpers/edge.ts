import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEdge, type LocalEdge, type LocalEdgeOptions } from '../../scripts/local-edge.ts';

export interface TestEdge extends LocalEdge {
  persistDir: string;
  /** Lines the Worker logged so far. */
  logs: string[];
  /** Stops workerd and starts it again on the same port with the same storage. */
  restart(): Promise<void>;
}

/** MQTT_GATEWAYS of the test run: the `gateways` project runs the behaviour suites with 4. */
export function testShape(): Record<string, string> {
  const gateways = process.env['TEST_MQTT_GATEWAYS'];
  return gateways === undefined || gateways === '' ? {} : { MQTT_GATEWAYS: gateways };
}

/** Whether this run puts gateways in front of the core. */
export const withGateways = (process.env['TEST_MQTT_GATEWAYS'] ?? '1') !== '1';

/**
 * Starts the real Worker on workerd, on a free port, with its own storage
 * directory (removed by dispose).
 */
export async function startTestEdge(vars: Record<string, string> = {}, extra: Pick<LocalEdgeOptions, 'scriptPath' | 'extraWorkers' | 'edgeWorkerOptions'> = {}): Promise<TestEdge> {
  const persistDir = mkdtempSync(join(tmpdir(), 'mqtt-edge-'));
  const scriptPath = extra.scriptPath ?? process.env['EDGE_BUNDLE'];
  const logs: string[] = [];
  const base = {
    persistDir,
    // Tests use a namespace each; the ones about MQTT_NAMESPACES itself set it. The shape (one object, or
    // gateways in front of the core) comes from the test project (vitest.config.ts), unless a test sets it.
    vars: { MQTT_NAMESPACES: '*', ...testShape(), ...vars },
    onLogLine: (line: string) => logs.push(line),
    ...(scriptPath === undefined ? {} : { scriptPath }),
    ...(extra.extraWorkers === undefined ? {} : { extraWorkers: extra.extraWorkers }),
    ...(extra.edgeWorkerOptions === undefined ? {} : { edgeWorkerOptions: extra.edgeWorkerOptions }),
  };
  let current = await startLocalEdge({ port: 0, ...base });
  const edge: TestEdge = {
    ...current,
    persistDir,
    logs,
    async restart() {
      const port = current.port;
      await current.dispose();
      current = await startLocalEdge({ port, ...base });
      Object.assign(edge, { url: current.url, mqttUrl: current.mqttUrl, port: current.port, miniflare: current.miniflare });
    },
    async dispose() {
      await current.dispose();
      const dump = process.env['TEST_DUMP_LOGS'];
      if (dump !== undefined && dump !== '') writeFileSync(`${dump}.${process.pid}.log`, logs.join('\n'));
      rmSync(persistDir, { recursive: true, force: true });
    },
  };
  return edge;
}

/**
 * How many ends of `clientId`'s connections in `namespace` the edge has
 * logged (`connection.closed`, written after the will is routed): MQTT
 * acknowledges no close, so the broker's log is the only sign of one.
 */
export function connectionEndsLogged(edge: Pick<TestEdge, 'logs'>, namespace: string, clientId: string): number {
  let count = 0;
  for (const line of edge.logs) {
    if (!line.includes('"connection.closed"')) continue;
    const record = JSON.parse(line) as { event?: string; namespace?: string; client?: string };
    if (record.event === 'connection.closed' && record.namespace === namespace && record.client === clientId) count++;
  }
  return count;
}
