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
import { loadSidecarConfig } from '../sidecar/config.ts';
import { createLogger } from '../sidecar/log.ts';
import { startSidecar } from '../sidecar/server.ts';
import { freePort } from './free-port.ts';
import { connectInspector, topFunctions, type CpuProfile } from './inspector.ts';
import { repoRoot, startLocalEdge } from './local-edge.ts';

const scenarios: Record<string, { transport: 'tcp' | 'ws'; args: string[] }> = {
  p2p: { transport: 'tcp', args: ['--pubs', '1', '--subs', '1', '--qos', '0', '--payload', '64'] },
  'pairs-q1': { transport: 'tcp', args: ['--pubs', '10', '--subs', '10', '--qos', '1', '--topic', 'bench/%i'] },
  fanin: { transport: 'tcp', args: ['--pubs', '100', '--subs', '1', '--topic', 'bench/in/%i', '--sub-topic', 'bench/in/+', '--window', '10'] },
  fanout: { transport: 'tcp', args: ['--pubs', '1', '--subs', '100', '--topic', 'bench/fan', '--window', '10'] },
  lat: { transport: 'tcp', args: ['--rate', '1000'] },
  'ws-p2p': { transport: 'ws', args: ['--pubs', '1', '--subs', '1', '--qos', '0', '--payload', '64'] },
};

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
const edge = await startLocalEdge({ port: 0, inspectorPort, vars: { MQTT_BRIDGE_SECRET: secret, MQTT_NAMESPACES: '*', MQTT_LOG_LEVEL: 'warn' } });
const sidecar = await startSidecar(
  loadSidecarConfig({ MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_EDGE_URL: edge.mqttUrl, MQTT_BRIDGE_SECRET: secret, MQTT_MAX_CONNECTIONS: '0', MQTT_LOG_LEVEL: 'warn' }),
  { logger: createLogger({ format: 'json', level: 'warn' }) },
);

// workerd's inspector: the Worker's isolate is one of its targets.
const devtools = await connectInspector(inspectorPort);
const call = devtools.call;

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

const summary = [`# ${scenarioName}, ${seconds} s`, '', '```', result, '```', '', topFunctions('edge (workerd)', edgeProfile), '', topFunctions('sidecar (node)', sidecarProfile)].join('\n');
writeFileSync(join(out, 'summary.md'), `${summary}\n`);
console.log(summary);
console.error(`profile: written to ${out}`);

devtools.close();
session.disconnect();
await sidecar.close();
await edge.dispose();
