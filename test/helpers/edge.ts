import { mkdtempSync, rmSync } from 'node:fs';
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
    // Tests use a namespace each; the ones about MQTT_NAMESPACES itself set it.
    vars: { MQTT_NAMESPACES: '*', ...vars },
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
      rmSync(persistDir, { recursive: true, force: true });
    },
  };
  return edge;
}
