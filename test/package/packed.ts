/**
 * One `npm pack` of the repository per test run, shared by the files of
 * test/package/: they run in parallel workers, and building the package
 * twice at once would have one build delete the other's dist/package/. The
 * first file to ask builds and packs into PACKAGE_TEST_DIR (made and
 * removed by test/helpers/global-setup.ts); the others wait for its result
 * file. A failure is written down too, so that they fail with its reason
 * instead of waiting out the deadline.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildPackage } from '../../scripts/build-package.ts';
import { repoRoot } from '../../scripts/local-edge.ts';

const run = promisify(execFile);

export interface PackedPackage {
  /** Path of the .tgz. */
  tarball: string;
  /** Paths inside the package, as `npm pack --json` lists them. */
  files: string[];
  /** Bytes of the .tgz. */
  size: number;
}

/** How long a waiting file gives the one that builds (tsc twice and npm pack, on a busy machine). */
const BuildDeadlineMs = 150_000;

let packed: Promise<PackedPackage> | undefined;

export function packedPackage(): Promise<PackedPackage> {
  packed ??= packOnce(process.env['PACKAGE_TEST_DIR'] ?? mkdtempSync(join(tmpdir(), 'mqtt-package-')));
  return packed;
}

async function packOnce(dir: string): Promise<PackedPackage> {
  const result = join(dir, 'packed.json');
  const failure = join(dir, 'failed.txt');
  try {
    mkdirSync(join(dir, 'building'));
  } catch {
    return waitForPack(result, failure);
  }
  try {
    await buildPackage();
    // Built just above: prepack would only build it again.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      maxBuffer: 32 * 1024 * 1024,
    });
    const [tarball] = JSON.parse(stdout) as Array<{ filename: string; size: number; files: Array<{ path: string }> }>;
    if (tarball === undefined) throw new Error('npm pack reported no tarball');
    const pack: PackedPackage = { tarball: join(dir, tarball.filename), files: tarball.files.map((file) => file.path), size: tarball.size };
    writeFileSync(result, JSON.stringify(pack));
    return pack;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message?: string };
    writeFileSync(failure, `${failed.message ?? String(error)}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    throw error;
  }
}

async function waitForPack(result: string, failure: string): Promise<PackedPackage> {
  const deadline = Date.now() + BuildDeadlineMs;
  for (;;) {
    if (existsSync(result)) return JSON.parse(readFileSync(result, 'utf8')) as PackedPackage;
    if (existsSync(failure)) throw new Error(`another test file could not pack the package:\n${readFileSync(failure, 'utf8')}`);
    if (Date.now() > deadline) throw new Error(`no packed package after ${BuildDeadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
