/**
 * The package as a user's project gets it: `npm pack` of this repo,
 * unpacked into examples/queue-to-d1/node_modules (what `npm install
 * edge-mqtt-broker` does, minus the network: its dependencies resolve from
 * the repo's node_modules one level up). The example is then type-checked
 * with its own default Workers tsconfig, bundled by wrangler, and run on
 * workerd with a real Queue and D1: MQTT messages end up as rows.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from 'wrangler';
import { repoRoot } from '../../scripts/local-edge.ts';
import { connectClient, publish, sleep } from '../helpers/mqtt-clients.ts';
import { packedPackage } from './packed.ts';

const run = promisify(execFile);
const exampleDir = join(repoRoot, 'examples', 'queue-to-d1');
const installedPackage = join(exampleDir, 'node_modules', 'edge-mqtt-broker');
const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const wrangler = join(repoRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** Runs a command; a failure carries its output, which is what one needs to read. */
async function runTool(file: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, {
      cwd,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
      maxBuffer: 32 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${[file, ...args].join(' ')} failed:\n${failure.stdout ?? ''}${failure.stderr ?? failure.message}`);
  }
}

let workDir: string;
let packedFiles: string[];

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'mqtt-package-'));
  const packed = await packedPackage();
  packedFiles = packed.files;
  rmSync(installedPackage, { recursive: true, force: true });
  mkdirSync(installedPackage, { recursive: true });
  await runTool('tar', ['-xzf', packed.tarball, '-C', installedPackage, '--strip-components=1'], repoRoot);
}, 180_000);

afterAll(() => {
  rmSync(installedPackage, { recursive: true, force: true });
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('the published package', () => {
  it('holds the compiled entry, its declarations and the licence, and no TypeScript sources', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/package/edge/index.js', 'dist/package/edge/index.d.ts']));
    // The dashboard, with the MQTT.js it loads and its licence: a user's wrangler.toml points [assets] here.
    expect(packedFiles).toEqual(expect.arrayContaining(['dist/package/dashboard/index.html', 'dist/package/dashboard/dashboard/main.js', 'dist/package/dashboard/dashboard/vendor/mqtt.esm.js', 'dist/package/dashboard/dashboard/vendor/mqtt.LICENSE.md']));
    expect(packedFiles.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(installedPackage, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest['private']).toBeUndefined();
    expect(manifest['exports']).toEqual({
      '.': { types: './dist/package/edge/index.d.ts', default: './dist/package/edge/index.js' },
      './package.json': './package.json',
    });
  });

  it('imports only files it ships: every relative specifier of its .js and .d.ts resolves', () => {
    const shipped = new Set(packedFiles.map((path) => normalize(path)));
    const missing: string[] = [];
    for (const path of packedFiles.filter((file) => file.endsWith('.js') || file.endsWith('.d.ts'))) {
      const text = readFileSync(join(installedPackage, path), 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.\.?\/[^'"]+)['"]/g)) {
        const specifier = match[1] as string;
        const target = normalize(join(dirname(path), specifier));
        // A declaration's `./x.js` is typed by the shipped `./x.d.ts`.
        const candidates = path.endsWith('.d.ts') ? [target, target.replace(/\.js$/, '.d.ts')] : [target];
        if (!candidates.some((candidate) => shipped.has(candidate))) missing.push(`${path} → ${specifier}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('examples/queue-to-d1, a default Workers project', () => {
  it('type-checks with its own tsconfig: the package declarations, no Node typings, no library sources', async () => {
    const files = (await runTool(process.execPath, [tsc, '-p', join(exampleDir, 'tsconfig.json'), '--listFiles'], exampleDir)).split('\n');
    const fromPackage = files.filter((file) => file.includes('node_modules/edge-mqtt-broker/'));
    expect(fromPackage).toContain(join(installedPackage, 'dist', 'package', 'edge', 'index.d.ts'));
    expect(fromPackage.filter((file) => !file.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((file) => file.includes('@types/node') || file.includes('mqtt-packet'))).toEqual([]);
    expect(files.filter((file) => file.startsWith(join(repoRoot, 'edge')) || file.startsWith(join(repoRoot, 'shared')))).toEqual([]);
  });

  it('declares every public export as a Worker developer uses it (test/package/types: what must compile does, what must not does not)', async () => {
    await runTool(process.execPath, [tsc, '-p', join(repoRoot, 'test', 'package', 'types', 'tsconfig.json')], repoRoot);
  });

  it('type-checks even with skipLibCheck off: the declarations it reads stand on their own', async () => {
    await runTool(process.execPath, [tsc, '-p', join(exampleDir, 'tsconfig.json'), '--skipLibCheck', 'false'], exampleDir);
  });

  it('bundles with wrangler from the built package, and writes every MQTT message to D1 through the Queue on workerd', async () => {
    const outdir = join(workDir, 'bundle');
    await runTool(process.execPath, [wrangler, 'deploy', '--dry-run', '--outdir', outdir], exampleDir);
    const bundle = join(outdir, 'worker.js');
    const source = readFileSync(bundle, 'utf8');
    // esbuild names each input in a comment: the compiled package, never the repo's sources.
    expect(source).toContain('node_modules/edge-mqtt-broker/dist/package/edge/define-broker.js');
    expect(source).not.toContain('edge/define-broker.ts');

    const logs: string[] = [];
    const mf = await startExample(bundle, logs);
    try {
      const db = await mf.getD1Database('DB');
      await applyMigrations(db);
      const url = await mf.ready;
      // The dashboard, served from the package by the one line of the example's wrangler.toml.
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await page.text()).toContain('dashboard/main.js');
      expect((await fetch(new URL('/dashboard/vendor/mqtt.esm.js', url))).status).toBe(200);
      const publisher = await connectClient(`ws://${url.host}/mqtt`, { clientId: 'sensor-1', protocolVersion: 5 });
      const sent = ['21.5', '21.7', '21.6', '22.0', '\u00ff binary'].map((text, index) => ({ topic: `sensors/kitchen/${index}`, payload: text }));
      for (const [index, message] of sent.entries()) await publish(publisher.client, message.topic, message.payload, { qos: (index % 2) as 0 | 1 });
      await publisher.end();

      const rows = await until(
        () => db.prepare('SELECT namespace, client_id, topic, payload, qos, retain FROM messages ORDER BY topic').all<StoredRow>(),
        (result) => result.results.length >= sent.length,
        logs,
      );
      expect(rows.results.map((row) => ({ ...row, payload: new TextDecoder().decode(new Uint8Array(row.payload)) }))).toEqual(
        sent.map((message, index) => ({ namespace: 'default', client_id: 'sensor-1', topic: message.topic, payload: message.payload, qos: index % 2, retain: 0 })),
      );
    } finally {
      await mf.dispose();
    }
  });
});

interface StoredRow {
  namespace: string;
  client_id: string;
  topic: string;
  payload: ArrayBuffer | number[];
  qos: number;
  retain: number;
}

/**
 * The example on workerd with the bindings its wrangler.toml declares (read
 * by wrangler itself, so they cannot drift): the Durable Object, the Queue
 * with its consumer, D1 and the vars. Storage is in memory.
 */
async function startExample(bundle: string, logs: string[]): Promise<Miniflare> {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(exampleDir, 'wrangler.toml'));
  return new Miniflare({
    ...workerOptions,
    name: 'queue-to-d1',
    scriptPath: bundle,
    // Module names are relative to this; the default (the working directory) would start them with "..".
    modulesRoot: dirname(bundle),
    modules: true,
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }],
    host: '127.0.0.1',
    port: 0,
    cf: { country: 'XX', colo: 'LOCAL', asn: 0 },
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio: (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => {
      for (const stream of [stdout, stderr]) stream.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    },
  });
}

/** What `wrangler d1 migrations apply` does: every file of migrations/, in order, statement by statement. */
async function applyMigrations(db: D1DatabaseLike): Promise<void> {
  const dir = join(exampleDir, 'migrations');
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.sql')).sort()) {
    const statements = unstable_splitSqlQuery(readFileSync(join(dir, file), 'utf8'));
    await db.batch(statements.map((statement) => db.prepare(statement)));
  }
}

type D1DatabaseLike = Awaited<ReturnType<Miniflare['getD1Database']>>;

/** Polls `read` until `done` holds: the rows appear when the Queue's consumer has run, an effect with no event here. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, logs: string[], timeoutMs = 20_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out; last read: ${JSON.stringify(value)}\nthe Worker logged:\n${logs.join('')}`);
    await sleep(50);
  }
}
