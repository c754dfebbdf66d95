/**
 * Runs the edge Worker locally on Miniflare (the real workerd runtime), the
 * same way for `npm start` and for the integration tests. The Worker is
 * bundled by wrangler itself (`wrangler deploy --dry-run`), so what runs
 * here is byte for byte what `wrangler deploy` would upload.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Log, LogLevel, Miniflare, type WorkerOptions } from 'miniflare';
import { copyDashboardAssets } from './dashboard-assets.ts';

const run = promisify(execFile);
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bundleDir = join(repoRoot, 'dist', 'edge');

/**
 * Bundles edge/worker.ts (or another entry, such as a test Worker built with
 * defineBroker) with wrangler; returns the bundle's path.
 */
export async function buildEdge(entry?: string, outdir: string = bundleDir): Promise<string> {
  const wrangler = join(repoRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
  const args = [wrangler, 'deploy', '--dry-run', '--outdir', outdir, '--config', join(repoRoot, 'wrangler.toml')];
  if (entry !== undefined) args.push(entry);
  // wrangler.toml's [build] step copies MQTT.js into the dashboard's assets first.
  try {
    await run(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    throw new Error(`wrangler could not bundle the edge Worker:\n${failure.stderr ?? ''}${failure.stdout ?? ''}`);
  }
  return join(outdir, entry === undefined ? 'worker.js' : `${basename(entry).replace(/\.ts$/, '')}.js`);
}

interface WranglerSettings {
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, string>;
  /** `[assets]`: the dashboard's files and their binding. */
  assets?: { directory: string; binding: string };
}

/** The few wrangler.toml settings Miniflare needs, read so they cannot drift apart. */
function readWranglerSettings(): WranglerSettings {
  const toml = readFileSync(join(repoRoot, 'wrangler.toml'), 'utf8');
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? '';
  if (date === undefined) throw new Error('wrangler.toml has no compatibility_date');
  const vars: Record<string, string> = {};
  const varsSection = /^\[vars\]\s*\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml)?.[1] ?? '';
  for (const line of varsSection.split('\n')) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) vars[match[1]] = JSON.parse(`"${match[2]}"`) as string;
  }
  const assetsSection = /^\[assets\]\s*\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml)?.[1] ?? '';
  const assetsDirectory = /^\s*directory\s*=\s*"([^"]+)"/m.exec(assetsSection)?.[1];
  const assetsBinding = /^\s*binding\s*=\s*"([^"]+)"/m.exec(assetsSection)?.[1];
  return {
    compatibilityDate: date,
    compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? ''),
    vars,
    ...(assetsDirectory === undefined || assetsBinding === undefined ? {} : { assets: { directory: join(repoRoot, assetsDirectory), binding: assetsBinding } }),
  };
}

export interface LocalEdgeOptions {
  /** TCP port for the Worker; 0 picks a free one. */
  port: number;
  host?: string;
  /** Directory for Durable Object SQLite storage; undefined keeps it in memory. */
  persistDir?: string;
  /** Extra bindings ([vars]/secrets), e.g. MQTT_* settings. */
  vars?: Record<string, string>;
  /** Path of an already built bundle (skip the wrangler build). */
  scriptPath?: string;
  /** More Workers in the same runtime (e.g. one with a service binding to BrokerApi). */
  extraWorkers?: WorkerOptions[];
  /** More options for the edge Worker itself: Queue producers, D1 databases, R2 buckets (rule targets, tests). */
  edgeWorkerOptions?: Partial<WorkerOptions>;
  verbose?: boolean;
  /** Receives each line the Worker logs (JSON lines from the broker); default: printed when verbose. */
  onLogLine?: (line: string) => void;
  /** Opens workerd's V8 inspector here (Chrome DevTools protocol), for profiling (scripts/profile.ts). */
  inspectorPort?: number;
  /**
   * Runs workerd in a session of its own, out of reach of a terminal's
   * Ctrl-C (scripts/workerd-own-session.sh): `npm start` stops it itself,
   * after its clients have been told. Only where `setsid` exists.
   */
  ownSession?: boolean;
  /** Logs Miniflare's line per HTTP request only for answers of 400 and above (the dashboard polls every few seconds). */
  quietRequests?: boolean;
}

export interface LocalEdge {
  /** http://host:port/ of the Worker. */
  url: URL;
  /** ws://host:port/mqtt */
  mqttUrl: string;
  port: number;
  miniflare: Miniflare;
  dispose(): Promise<void>;
}

function pipeLines(onLine: (line: string) => void) {
  return (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream): void => {
    for (const stream of [stdout, stderr]) {
      let rest = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.length > 0) onLine(line);
      });
    }
  };
}

/** Miniflare's log, without its lines for requests that succeeded. */
class ErrorRequestsLog extends Log {
  override logWithLevel(level: LogLevel, message: string): void {
    const plain = message.replace(/\u001b\[[0-9;]*m/g, '');
    const status = /^[A-Z]+ \S+ (\d{3}) /.exec(plain)?.[1];
    if (level === LogLevel.INFO && status !== undefined && Number(status) < 400) return;
    super.logWithLevel(level, message);
  }
}

/** Points Miniflare at workerd through scripts/workerd-own-session.sh, where `setsid` exists. */
function runWorkerdInOwnSession(): void {
  try {
    execFileSync('setsid', ['--version'], { stdio: 'ignore' });
  } catch {
    return;
  }
  const fromMiniflare = createRequire(createRequire(import.meta.url).resolve('miniflare'));
  process.env['EDGE_WORKERD_BINARY'] = (fromMiniflare('workerd') as { default: string }).default;
  process.env['MINIFLARE_WORKERD_PATH'] = join(repoRoot, 'scripts', 'workerd-own-session.sh');
}

export async function startLocalEdge(options: LocalEdgeOptions): Promise<LocalEdge> {
  if (options.ownSession === true) runWorkerdInOwnSession();
  const scriptPath = options.scriptPath ?? (await buildEdge());
  // A prebuilt bundle skips buildEdge, but the page still needs MQTT.js among the assets.
  copyDashboardAssets();
  const settings = readWranglerSettings();
  const edgeWorker: WorkerOptions = {
    ...options.edgeWorkerOptions,
    name: 'edge',
    scriptPath,
    modules: true,
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }],
    compatibilityDate: settings.compatibilityDate,
    compatibilityFlags: settings.compatibilityFlags,
    durableObjects: { BROKER: { className: 'BrokerNamespace', useSQLite: true } },
    // Locally, CF-Connecting-IP is whatever the client sent; on Cloudflare the edge sets it. A local
    // edge is for development: open to anonymous clients unless told (a deployed one is closed).
    bindings: { MQTT_TRUST_CF_CONNECTING_IP: 'false', MQTT_ALLOW_ANONYMOUS: 'true', ...settings.vars, ...options.vars },
    // As wrangler.toml's run_worker_first = true: the Worker sees every request and asks ASSETS for the dashboard's files.
    ...(settings.assets === undefined
      ? {}
      : { assets: { ...settings.assets, routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true } } }),
  };
  const mf = new Miniflare({
    workers: [edgeWorker, ...(options.extraWorkers ?? [])],
    durableObjectsPersist: options.persistDir ?? false,
    // Offline: a fixed Request.cf instead of fetching one from Cloudflare.
    cf: { country: 'XX', colo: 'LOCAL', asn: 0 },
    host: options.host ?? '127.0.0.1',
    port: options.port,
    log: new (options.quietRequests === true ? ErrorRequestsLog : Log)(options.verbose === true ? LogLevel.INFO : LogLevel.WARN),
    ...(options.onLogLine === undefined ? {} : { handleRuntimeStdio: pipeLines(options.onLogLine) }),
    ...(options.inspectorPort === undefined ? {} : { inspectorPort: options.inspectorPort }),
  });
  const url = await mf.ready;
  return {
    url,
    port: Number(url.port),
    mqttUrl: `ws://${url.hostname}:${url.port}/mqtt`,
    miniflare: mf,
    dispose: () => mf.dispose(),
  };
}
