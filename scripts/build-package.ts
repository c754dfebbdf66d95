/**
 * `npm run build:package` (and `npm pack`, through prepack): compiles the
 * package's entry, edge/index.ts, and what it imports to dist/package/ as
 * JavaScript and declarations, with tsc and tsconfig.build.json; then the
 * sidecar's command, sidecar/main.ts (the package's `edge-mqtt-sidecar`
 * bin), and what it imports, as JavaScript only, with
 * tsconfig.build-sidecar.json (Node's types, never the Workers'). The two
 * share shared/ modules: the second writes the same JavaScript again, so
 * they run one after the other.
 *
 * Then the dashboard's static files, MQTT.js included, to
 * dist/package/dashboard/: a Worker of the package's user serves them with
 * one line of its wrangler.toml (`assets = { directory = ... }`, see
 * docs/define-broker.md).
 *
 * tsc rewrites `./x.ts` to `./x.js` in the JavaScript it emits
 * (rewriteRelativeImportExtensions) but leaves the declarations' specifiers
 * as written (microsoft/TypeScript#61037). TypeScript reads those either
 * way; other tools (editors, bundlers that follow `types`) look for a file
 * that is not shipped, so they are rewritten here the same way.
 */
import { execFile } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { copyDashboardAssets, dashboardAssetsDir } from './dashboard-assets.ts';
import { repoRoot } from './local-edge.ts';

const run = promisify(execFile);
export const packageOutDir = join(repoRoot, 'dist', 'package');

/** `from './a.ts'`, `import('../b.ts')`: relative specifiers only, never a package's. */
const RelativeTsSpecifier = /((?:from\s+|import\s*\(\s*)['"]\.\.?\/[^'"]*?)\.ts(['"])/g;

export function rewriteDeclarationSpecifiers(text: string): string {
  return text.replace(RelativeTsSpecifier, '$1.js$2');
}

function declarationFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return declarationFiles(path);
    return name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * edge/observability/stats.ts imports the version from package.json, so tsc
 * copies the whole manifest to dist/package/package.json, where it would
 * ship the dev scripts and a second `exports` map inside the package. The
 * compiled code reads only `version` (the sidecar reads it at run time,
 * sidecar/version.ts): keep that (and ESM for the .js files).
 */
function writeVersionManifest(): void {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  writeFileSync(join(packageOutDir, 'package.json'), `${JSON.stringify({ type: 'module', version: manifest.version }, null, 2)}\n`);
}

/** The package's two tsc projects, in the order they run. */
const BuildProjects = ['tsconfig.build.json', 'tsconfig.build-sidecar.json'];

/** Builds dist/package/ from scratch (a stale file of a deleted module must not ship). */
export async function buildPackage(): Promise<string> {
  rmSync(packageOutDir, { recursive: true, force: true });
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const project of BuildProjects) {
    try {
      await run(process.execPath, [tsc, '-p', join(repoRoot, project)], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const failure = error as { stdout?: string; stderr?: string };
      throw new Error(`tsc could not build the package (${project}):\n${failure.stdout ?? ''}${failure.stderr ?? ''}`);
    }
  }
  writeVersionManifest();
  copyDashboardAssets();
  cpSync(dashboardAssetsDir, join(packageOutDir, 'dashboard'), { recursive: true });
  for (const file of declarationFiles(packageOutDir)) {
    const text = readFileSync(file, 'utf8');
    const rewritten = rewriteDeclarationSpecifiers(text);
    if (rewritten !== text) writeFileSync(file, rewritten);
  }
  return packageOutDir;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await buildPackage();
  console.log(`built ${packageOutDir}`);
}
