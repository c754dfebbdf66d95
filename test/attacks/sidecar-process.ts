/**
 * The sidecar as a process of its own (`tsx sidecar/main.ts`), for the
 * attacks on its memory: its resident memory is read from /proc and its
 * heap from its own /metrics, so the test process's memory does not blur
 * them, and a crash (out of memory) is an exit the test sees.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { repoRoot } from '../../scripts/local-edge.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { eventually } from '../helpers/mqtt-clients.ts';

export interface SidecarProcess {
  tcpPort: number;
  /** Its log lines (JSON), parsed. */
  lines: Array<Record<string, unknown>>;
  /** Resident memory (/proc), JavaScript heap in use and bytes held for devices (its /metrics). */
  memory(): Promise<{ rss: number; heapUsed: number; bufferedToDevice: number }>;
  /** Set once the process exited (a crash, if the test did not stop it). */
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

export async function startSidecarProcess(env: Record<string, string>): Promise<SidecarProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'sidecar/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_METRICS_PORT: '0', MQTT_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        lines.push({ event: 'unparsed', text: part });
      }
    }
  });
  const running: SidecarProcess = {
    tcpPort: 0,
    lines,
    exited: undefined,
    async memory() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 'NaN') * 1024;
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const gauge = (name: string): number => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? 'NaN');
      return { rss, heapUsed: gauge('mqtt_sidecar_heap_used_bytes'), bufferedToDevice: gauge('mqtt_sidecar_buffered_to_device_bytes') };
    },
    async stop() {
      if (running.exited !== undefined) return;
      const exit = once(child, 'exit');
      child.kill('SIGTERM');
      await exit;
    },
  };
  child.on('exit', (code, signal) => {
    running.exited = { code, signal };
  });
  await eventually(() => lines.some((line) => line['event'] === 'sidecar.listening') || running.exited !== undefined, 30_000, 'the sidecar listening');
  const listening = lines.find((line) => line['event'] === 'sidecar.listening');
  if (listening === undefined) throw new Error(`the sidecar did not start: ${JSON.stringify(lines.slice(-5))}`);
  running.tcpPort = Number(String(listening['tcp']).split(':').pop());
  const metricsPort = Number(String(listening['metrics']).split(':').pop());
  return running;
}

/**
 * The edge on workerd with a sidecar process linked to it (bridge secret
 * set), as the sidecar attacks need. The per-client packet rate limit is
 * off, as it is by default: it must not be what stops an attacker here.
 */
export async function startEdgeAndSidecar(sidecarEnv: Record<string, string> = {}): Promise<{ edge: TestEdge; sidecar: SidecarProcess; stop(): Promise<void> }> {
  const secret = 'attack-test-secret';
  const edge = await startTestEdge({ MQTT_BRIDGE_SECRET: secret, MQTT_MAX_PACKET_RATE: '0' });
  const sidecar = await startSidecarProcess({ MQTT_EDGE_URL: edge.mqttUrl, MQTT_BRIDGE_SECRET: secret, ...sidecarEnv });
  return {
    edge,
    sidecar,
    async stop() {
      await sidecar.stop();
      await edge.dispose();
    },
  };
}
