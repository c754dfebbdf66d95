/**
 * npm run profile -- [scenario] [seconds]: CPU profiles of the whole stack
 * under one load of the shared generator (../shared/bench), so that a hot
 * path is measured before it is changed.
 *
 * Starts the edge on workerd with its V8 inspector open and profiles it over
 * the DevTools protocol; runs the sidecar in this process and profiles it
 * with node:inspector; runs mqtt-bench as a child process. Writes both
 * .cpuprofile files (open them in Chrome DevTools or speedscope) to
 * bench-results/profile-<time>/ and prints the functions with the most self
 * time, per process.
 *
 * Scenarios (as compare.sh's): p2p, pairs-q1, fanin, fanout, lat, ws-p2p.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import WebSocket from 'ws';
import { loadSidecarConfig } from '../sidecar/config.ts';
import { createLogger } from '../sidecar/log.ts';
import { startSidecar } from '../sidecar/server.ts';
import { freePort } from './free-port.ts';
import { repoRoot, startLocalEdge } from './local-edge.ts';

const scenarios: Record<string, { transport: 'tcp' | 'ws'; args: string[] }> = {
  p2p: { transport: 'tcp', args: ['--pubs', '1', '--subs', '1', '--qos', '0', '--payload', '64'] },
  'pairs-q1': { transport: 'tcp', args: ['--pubs', '10', '--subs', '10', '--qos', '1', '--topic', 'bench/%i'] },
  fanin: { transport: 'tcp', args: ['--pubs', '100', '--subs', '1', '--topic', 'bench/in/%i', '--sub-topic', 'bench/in/+', '--window', '10'] },
  fanout: { transport: 'tcp', args: ['--pubs', '1', '--subs', '100', '--topic', 'bench/fan', '--window', '10'] },
  lat: { transport: 'tcp', args: ['--rate', '1000'] },
  'ws-p2p': { transport: 'ws', args: ['--pubs', '1', '--subs', '1', '--qos', '0', '--payload', '64'] },
};

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  startTime: number;
  endTime: number;
}

const scenarioName = process.argv[2] ?? 'p2p';
const seconds = Number(process.argv[3] ?? '10');
const scenario = scenarios[scenarioName];
if (scenario === undefined) {
  console.error(`unknown scenario "${scenarioName}"; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}

const tool = join(repoRoot, 'bench-results', 'tool');
if (!existsSync(join(tool, 'node_modules'))) {
  mkdirSync(tool, { recursive: true });
  cpSync(join(repoRoot, '..', 'shared', 'bench'), tool, { recursive: true });
  execSync('npm ci --no-audit --no-fund', { cwd: tool, stdio: 'ignore' });
}
const out = join(repoRoot, 'bench-results', `profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(out, { recursive: true });

const secret = 'profile-secret';
const inspectorPort = await freePort();
const edge = await startLocalEdge({ port: 0, inspectorPort, vars: { MQTT_BRIDGE_SECRET: secret, MQTT_NAMESPACES: '*', MQTT_MAX_PACKET_RATE: '0', MQTT_LOG_LEVEL: 'warn' } });
const sidecar = await startSidecar(
  loadSidecarConfig({ MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_EDGE_URL: edge.mqttUrl, MQTT_BRIDGE_SECRET: secret, MQTT_MAX_CONNECTIONS: '0', MQTT_LOG_LEVEL: 'warn' }),
  { logger: createLogger({ format: 'json', level: 'warn' }) },
);

// workerd's inspector: the Worker's isolate is one of its targets.
const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as Array<{ id: string; title?: string; webSocketDebuggerUrl?: string }>;
const target = targets.find((t) => t.webSocketDebuggerUrl !== undefined && (t.id.includes('edge') || t.title?.includes('edge') === true)) ?? targets[0];
if (target?.webSocketDebuggerUrl === undefined) throw new Error(`no inspector target: ${JSON.stringify(targets)}`);
const devtools = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => devtools.once('open', resolve).once('error', reject));
let nextId = 1;
const pending = new Map<number, (result: unknown) => void>();
devtools.on('message', (data: Buffer) => {
  const message = JSON.parse(data.toString()) as { id?: number; result?: unknown };
  if (message.id !== undefined) pending.get(message.id)?.(message.result);
});
const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    devtools.send(JSON.stringify({ id, method, params }));
  });

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
await call('Profiler.enable');
await call('Profiler.setSamplingInterval', { interval: 200 });

const url = scenario.transport === 'ws' ? `${edge.mqttUrl}` : `mqtt://127.0.0.1:${sidecar.tcpPort}`;
console.error(`profile: ${scenarioName} for ${seconds} s against ${url}`);
await session.post('Profiler.start');
await call('Profiler.start');
const result = await new Promise<string>((resolve, reject) => {
  const child = spawn(process.execPath, [join(tool, 'mqtt-bench.mjs'), 'pubsub', '--url', url, '--duration', String(seconds), ...scenario.args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.on('error', reject);
  child.on('close', () => resolve(stdout.trim()));
});
const sidecarProfile = ((await session.post('Profiler.stop')) as { profile: CpuProfile }).profile;
const edgeProfile = ((await call('Profiler.stop')) as { profile: CpuProfile }).profile;
writeFileSync(join(out, 'sidecar.cpuprofile'), JSON.stringify(sidecarProfile));
writeFileSync(join(out, 'edge.cpuprofile'), JSON.stringify(edgeProfile));
writeFileSync(join(out, 'result.json'), `${result}\n`);

const summary = [`# ${scenarioName}, ${seconds} s`, '', '```', result, '```', '', top('edge (workerd)', edgeProfile), '', top('sidecar (node)', sidecarProfile)].join('\n');
writeFileSync(join(out, 'summary.md'), `${summary}\n`);
console.log(summary);
console.error(`profile: written to ${out}`);

devtools.close();
session.disconnect();
await sidecar.close();
await edge.dispose();

/** The functions with the most self time, and the share of idle, as a Markdown table. */
function top(title: string, profile: CpuProfile, count = 25): string {
  const hits = new Map<number, number>();
  for (const sample of profile.samples ?? []) hits.set(sample, (hits.get(sample) ?? 0) + 1);
  const total = (profile.samples ?? []).length || 1;
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const n = hits.get(node.id) ?? node.hitCount ?? 0;
    if (n === 0) continue;
    const file = node.callFrame.url.split('/').slice(-2).join('/');
    const key = `${node.callFrame.functionName || '(anonymous)'} ${file}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + n);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, count);
  return [`## ${title}: ${total} samples`, '', '| self % | function |', '|---:|---|', ...rows.map(([key, n]) => `| ${((100 * n) / total).toFixed(1)} | \`${key}\` |`)].join('\n');
}
