/**
 * The sidecar as someone running it next to devices gets it: the packed
 * package installed with `npm install --omit=dev` into an empty folder (no
 * checkout, no tsx, no TypeScript), then its `edge-mqtt-sidecar` command
 * bridging Debian's mosquitto_pub and mosquitto_sub over real TCP into an
 * edge on workerd, with the bridge secret on both, and stopping on SIGTERM
 * with exit code 0. And the recipes of deploy/ that run it as a service:
 * the systemd unit as `systemd-analyze verify` reads it (pointed at the
 * installed command), the Dockerfile and compose file against the
 * sidecar's defaults (no Docker engine here: read, not built), the
 * Dockerfile's HEALTHCHECK run against the installed command.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { helpText } from '../../sidecar/cli.ts';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import { parseEnvFile } from '../../sidecar/env-file.ts';
import { SidecarSettings, findSetting, flagOf } from '../../sidecar/settings.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { waitUntil } from '../sidecar/harness.ts';
import { packedPackage, type PackedPackage } from './packed.ts';

const run = promisify(execFile);
const MosquittoPub = '/usr/bin/mosquitto_pub';
const MosquittoSub = '/usr/bin/mosquitto_sub';
const hasMosquittoClients = existsSync(MosquittoPub) && existsSync(MosquittoSub);
/** Line-buffers mosquitto_sub's stdout into the pipe, so that SUBACK is seen when it comes. */
const Stdbuf = existsSync('/usr/bin/stdbuf') ? '/usr/bin/stdbuf' : undefined;

/**
 * The environment of a user's shell: none of npm's per-script variables, no
 * NODE_OPTIONS (which could load tsx), and no PATH entry into this
 * repository's node_modules/.bin.
 */
function userEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name.startsWith('npm_') || name === 'NODE_OPTIONS' || name === 'INIT_CWD') continue;
    env[name] = value;
  }
  env['PATH'] = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((entry) => !entry.startsWith(repoRoot))
    .join(delimiter);
  return { ...env, ...extra };
}

let installDir: string;
let packed: PackedPackage;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  installDir = mkdtempSync(join(tmpdir(), 'sidecar-install-'));
  packed = await packedPackage();
  // An empty folder of its own: npm must not find this repository's package.json above it.
  writeFileSync(join(installDir, 'package.json'), '{ "private": true }\n');
  try {
    await run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', packed.tarball], { cwd: installDir, env: userEnvironment(), maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    throw new Error(`npm install of the packed package failed:\n${failure.stdout ?? ''}${failure.stderr ?? ''}`);
  }
}, 240_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  if (installDir !== undefined) rmSync(installDir, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('ships the compiled sidecar as the bin edge-mqtt-sidecar, with its run-time dependencies pinned', () => {
    const manifest = JSON.parse(readFileSync(join(installDir, 'node_modules', 'edge-mqtt-broker', 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      dependencies: Record<string, string>;
    };
    expect(manifest.bin).toEqual({ 'edge-mqtt-sidecar': 'dist/package/sidecar/main.js' });
    expect(packed.files).toEqual(
      expect.arrayContaining(['dist/package/sidecar/main.js', 'dist/package/sidecar/broker-bridges/start-bridges.js', 'dist/package/shared/codec/framer.js']),
    );
    // What a service needs beside the command: its reference, the unit and the settings file (the unit's Documentation= names the first).
    expect(packed.files).toEqual(expect.arrayContaining(['docs/sidecar.md', 'docs/configuration.md', 'deploy/edge-mqtt-sidecar.service', 'deploy/sidecar.env.example']));
    // Run, never imported: no declarations of Node-only modules beside the Workers library's.
    expect(packed.files.filter((path) => path.startsWith('dist/package/sidecar/') && path.endsWith('.d.ts'))).toEqual([]);
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    for (const name of ['ws', 'mqtt', 'mqtt-packet', 'jose']) expect(manifest.dependencies[name], name).toBe(lock.packages[`node_modules/${name}`]?.version);
  });

  it('installs with production dependencies only: no tsx, TypeScript or vitest', () => {
    const modules = join(installDir, 'node_modules');
    for (const dev of ['tsx', 'typescript', 'vitest', 'wrangler', 'miniflare']) expect(existsSync(join(modules, dev)), dev).toBe(false);
    for (const dependency of ['ws', 'mqtt', 'mqtt-packet']) expect(existsSync(join(modules, dependency)), dependency).toBe(true);
    expect(existsSync(join(modules, '.bin', 'edge-mqtt-sidecar'))).toBe(true);
  });

  it('npx edge-mqtt-sidecar --help exits 0 and lists every setting with its option', async () => {
    const { stdout, stderr } = await run('npx', ['--no-install', 'edge-mqtt-sidecar', '--help'], { cwd: installDir, env: userEnvironment() });
    expect(stderr).toBe('');
    expect(stdout).toBe(helpText());
    for (const setting of SidecarSettings) expect(stdout).toContain(`--${flagOf(setting.name)} ${setting.value}   ${setting.name}`);
  });
});

interface Output {
  lines: string[];
  text(): string;
}

function collect(stream: NodeJS.ReadableStream | null): Output {
  const output = { lines: [] as string[], rest: '' };
  stream?.on('data', (chunk: Buffer) => {
    const parts = (output.rest + chunk.toString()).split('\n');
    output.rest = parts.pop() ?? '';
    output.lines.push(...parts);
  });
  return { lines: output.lines, text: () => [...output.lines, output.rest].join('\n') };
}

function start(command: string, args: string[], env: Record<string, string>): { child: ChildProcess; stdout: Output; stderr: Output; exited: Promise<number | null> } {
  const child = spawn(command, args, { cwd: installDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout: collect(child.stdout), stderr: collect(child.stderr), exited };
}

describe.skipIf(!hasMosquittoClients)('the installed edge-mqtt-sidecar next to a running edge', () => {
  let edge: TestEdge | undefined;
  afterAll(async () => {
    await edge?.dispose();
  });

  it('bridges mosquitto_sub and mosquitto_pub into the edge with the bridge secret, and exits 0 on SIGTERM', async () => {
    const secret = 'package-test-bridge-secret';
    edge = await startTestEdge({ MQTT_BRIDGE_SECRET: secret });
    // Each source once: the secret's file and a port (overridden below) from --config, the edge from the
    // environment, the rest as options.
    const secretFile = join(installDir, 'bridge-secret');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const configFile = join(installDir, 'sidecar.env');
    writeFileSync(configFile, ['# as systemd EnvironmentFile= reads it', `MQTT_BRIDGE_SECRET_FILE=${secretFile}`, 'MQTT_TCP_PORT=1', ''].join('\n'));
    const bin = join(installDir, 'node_modules', '.bin', 'edge-mqtt-sidecar');
    const sidecar = start(
      bin,
      ['--config', configFile, '--tcp-host', '127.0.0.1', '--tcp-port', '0', '--metrics-port', '0', '--shutdown-grace-ms', '2000'],
      userEnvironment({ MQTT_EDGE_URL: edge.mqttUrl }),
    );
    const events = (): Array<Record<string, unknown>> => sidecar.stderr.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const logged = (event: string): Record<string, unknown> | undefined => events().find((line) => line['event'] === event);
    // The link opens only when the edge accepted the secret.
    await waitUntil(() => logged('link.opened') !== undefined || sidecar.child.exitCode !== null, 'the link to the edge', 30_000);
    expect(logged('link.opened'), sidecar.stderr.text()).toBeDefined();
    const listening = logged('sidecar.listening') as { tcp: string; metrics: string; bridgeSecret: boolean };
    expect(listening.bridgeSecret).toBe(true);
    const tcpPort = listening.tcp.split(':').pop() ?? '';
    const health = await fetch(`http://${listening.metrics}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    const metricsPort = listening.metrics.split(':').pop() ?? '';
    expect(await healthCheck(metricsPort)).toBe(0);

    const subArgs = ['-h', '127.0.0.1', '-p', tcpPort, '-V', 'mqttv311', '-i', 'package-sub', '-t', 'package/test', '-q', '1', '-C', '1', '-d'];
    const sub = start(Stdbuf ?? MosquittoSub, Stdbuf === undefined ? subArgs : ['-oL', MosquittoSub, ...subArgs], userEnvironment());
    await waitUntil(() => sub.stdout.text().includes('SUBACK'), `SUBACK for mosquitto_sub (${sub.stdout.text()} ${sub.stderr.text()})`, 15_000);
    const pub = start(MosquittoPub, ['-h', '127.0.0.1', '-p', tcpPort, '-V', 'mqttv5', '-i', 'package-pub', '-t', 'package/test', '-q', '1', '-m', 'through the installed sidecar'], userEnvironment());
    expect(await pub.exited, pub.stderr.text()).toBe(0);
    expect(await sub.exited, sub.stderr.text()).toBe(0);
    expect(sub.stdout.lines).toContain('through the installed sidecar');

    sidecar.child.kill('SIGTERM');
    expect(await sidecar.exited, sidecar.stderr.text()).toBe(0);
    expect(events().map((line) => line['event'])).toEqual(expect.arrayContaining(['process.stopping', 'sidecar.stopping', 'sidecar.stopped']));
    expect(events().filter((line) => line['level'] === 'error')).toEqual([]);
    // Nothing listens any more: the container would be unhealthy.
    expect(await healthCheck(metricsPort)).toBe(1);
  }, 90_000);
});

// ── deploy/ ─────────────────────────────────────────────────────────────────

const deployDir = join(repoRoot, 'deploy');
const defaults = loadSidecarConfig({});
/** What a graceful stop may take by default: the grace, and the 2 s sidecar/main.ts gives beyond it. */
const defaultStopMs = defaults.shutdownGraceMs + 2_000;
const defaultTlsPort = loadSidecarConfig({ MQTT_TLS_CERT: 'cert.pem', MQTT_TLS_KEY: 'key.pem' }).tls?.port;

/** A Dockerfile's instructions, continuation lines joined, comments dropped: [keyword, rest]. */
function dockerInstructions(text: string): Array<[string, string]> {
  const joined = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replaceAll(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return [keyword.toUpperCase(), rest.join(' ')];
    });
}

const dockerfile = dockerInstructions(readFileSync(join(deployDir, 'Dockerfile'), 'utf8'));
const instruction = (keyword: string): string[] => dockerfile.filter(([name]) => name === keyword).map(([, rest]) => rest);
/** The HEALTHCHECK's command, exec form. */
const healthCheckCommand = JSON.parse(/CMD\s+(\[.*\])$/.exec(instruction('HEALTHCHECK')[0] ?? '')?.[1] ?? '[]') as string[];

/** Runs the Dockerfile's HEALTHCHECK as Docker would, with the metrics port in the environment; its exit code. */
async function healthCheck(metricsPort: string): Promise<number | null> {
  const [command = 'false', ...args] = healthCheckCommand;
  const check = start(command, args, userEnvironment({ MQTT_METRICS_PORT: metricsPort }));
  return check.exited;
}

function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match !== null) settings.set(match[1] as string, [...(settings.get(match[1] as string) ?? []), match[2] as string]);
  }
  return settings;
}

function seconds(text: string | undefined): number {
  const match = /^(\d+)s?$/.exec(text ?? '');
  if (match === null) throw new Error(`not a number of seconds: ${text}`);
  return Number(match[1]);
}

const systemdAnalyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((path) => existsSync(path));

describe('deploy/edge-mqtt-sidecar.service', () => {
  const unitText = readFileSync(join(deployDir, 'edge-mqtt-sidecar.service'), 'utf8');
  const unit = unitSettings(unitText);

  it.skipIf(systemdAnalyze === undefined)('passes systemd-analyze verify with its ExecStart pointed at the installed command, without a warning', async () => {
    const bin = join(installDir, 'node_modules', '.bin', 'edge-mqtt-sidecar');
    const copy = join(installDir, 'edge-mqtt-sidecar.service');
    writeFileSync(copy, unitText.replace(/^ExecStart=\S+/m, `ExecStart=${bin}`));
    const { stdout, stderr } = await run(systemdAnalyze ?? '', ['verify', copy]);
    expect(stdout + stderr).toBe('');
  });

  it.skipIf(systemdAnalyze === undefined)('is hardened: systemd-analyze security rates its exposure 2.0 or less', async () => {
    const { stdout } = await run(systemdAnalyze ?? '', ['security', '--offline=yes', '--no-pager', join(deployDir, 'edge-mqtt-sidecar.service')]);
    const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1]);
    expect(exposure).toBeLessThanOrEqual(2);
  });

  it('runs the installed command under a user of its own, settings from an EnvironmentFile, stop timeout above the grace', () => {
    expect(unit.get('ExecStart')).toEqual(['/usr/local/bin/edge-mqtt-sidecar']);
    expect(unit.get('EnvironmentFile')).toEqual(['/etc/edge-mqtt-sidecar/sidecar.env']);
    expect(unit.get('DynamicUser')).toEqual(['yes']);
    expect(seconds(unit.get('TimeoutStopSec')?.[0]) * 1_000).toBeGreaterThan(defaultStopMs);
    expect(Number(unit.get('LimitNOFILE')?.[0])).toBeGreaterThan(2 * defaults.maxConnections);
    // The default ports need no capability.
    expect(Math.min(defaults.tcp.port, defaultTlsPort ?? 0)).toBeGreaterThanOrEqual(1024);
    expect(unit.get('CapabilityBoundingSet')).toEqual(['']);
    expect(unit.get('NoNewPrivileges')).toEqual(['yes']);
    expect(unit.get('ProtectSystem')).toEqual(['strict']);
  });
});

describe('deploy/sidecar.env.example', () => {
  it('is read alike by systemd, docker and --config, and holds only valid settings', () => {
    const { entries, problems } = parseEnvFile(readFileSync(join(deployDir, 'sidecar.env.example'), 'utf8'));
    expect(problems).toEqual([]);
    expect(entries.filter((entry) => findSetting(entry.name) === undefined)).toEqual([]);
    expect(() => loadSidecarConfig(Object.fromEntries(entries.map((entry) => [entry.name, entry.value])))).not.toThrow();
  });
});

describe('deploy/Dockerfile and compose.yaml', () => {
  it('builds on a small official Node 20 image and installs the packed package without dev dependencies', () => {
    expect(instruction('FROM')).toEqual([expect.stringMatching(/^node:20-(alpine|slim|bookworm-slim)$/)]);
    expect(instruction('COPY')).toEqual(['edge-mqtt-broker-*.tgz /tmp/edge-mqtt-broker.tgz']);
    expect(instruction('RUN').join(' ')).toMatch(/npm install --global --omit=dev .*\/tmp\/edge-mqtt-broker\.tgz/);
    expect(instruction('ENTRYPOINT')).toEqual(['["edge-mqtt-sidecar"]']);
  });

  it('runs as a user other than root, and stops on SIGTERM', () => {
    expect(instruction('USER')).toEqual(['node']);
    expect(instruction('STOPSIGNAL')).toEqual(['SIGTERM']);
  });

  it("exposes the sidecar's default ports and the metrics port its HEALTHCHECK asks for /healthz", () => {
    const metricsPort = /MQTT_METRICS_PORT=(\d+)/.exec(instruction('ENV').join(' '))?.[1];
    expect(metricsPort).toBeDefined();
    expect(instruction('EXPOSE').join(' ').split(' ').map(Number).sort()).toEqual([defaults.tcp.port, defaultTlsPort, Number(metricsPort)].sort());
    expect(healthCheckCommand.join(' ')).toContain("'/healthz'");
    expect(healthCheckCommand.join(' ')).toContain('process.env.MQTT_METRICS_PORT');
  });

  it('gives compose a stop timeout above the graceful stop', () => {
    const compose = readFileSync(join(deployDir, 'compose.yaml'), 'utf8');
    expect(seconds(/^\s*stop_grace_period:\s*(\S+)/m.exec(compose)?.[1]) * 1_000).toBeGreaterThan(defaultStopMs);
    expect(/^\s*MQTT_METRICS_PORT:\s*"?(\d+)/m.exec(compose)?.[1]).toBe(/MQTT_METRICS_PORT=(\d+)/.exec(instruction('ENV').join(' '))?.[1]);
  });
});
