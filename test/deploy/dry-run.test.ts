/**
 * `npx wrangler deploy` from a fresh clone builds what it serves: the
 * dashboard's copy of MQTT.js is git-ignored, and wrangler.toml's [build]
 * step makes it before wrangler reads the assets. Checked on a copy of the
 * repository's files without the copy, as a clone after `npm install` is.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';

const run = promisify(execFile);
const clone = mkdtempSync(join(tmpdir(), 'mqtt-clone-'));
afterAll(() => rmSync(clone, { recursive: true, force: true }));

/** The files a clone has: tracked ones, and new ones not ignored (so the test sees work not yet committed). */
function copyRepository(): void {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter((file) => file !== '');
  for (const file of files) {
    if (!existsSync(join(repoRoot, file))) continue;
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    cpSync(join(repoRoot, file), join(clone, file));
  }
  // `npm install` in the clone: the same packages.
  symlinkSync(join(repoRoot, 'node_modules'), join(clone, 'node_modules'));
}

/** Entries below `dir`, folders included, as wrangler counts "files" of the assets directory. */
function countEntries(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => sum + 1 + (entry.isDirectory() ? countEntries(join(dir, entry.name)) : 0), 0);
}

describe('wrangler deploy from a fresh clone', () => {
  it('builds the dashboard with its MQTT.js before reading the assets', async () => {
    copyRepository();
    const vendor = join(clone, 'edge', 'dashboard', 'public', 'dashboard', 'vendor', 'mqtt.esm.js');
    expect(existsSync(vendor)).toBe(false);
    const { stdout, stderr } = await run(process.execPath, [join(clone, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'deploy', '--dry-run', '--outdir', join(clone, 'out')], {
      cwd: clone,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
    });
    const output = stdout + stderr;
    expect(output).toContain('[custom build] Running: node --import tsx scripts/dashboard-assets.ts');
    expect(existsSync(vendor)).toBe(true);
    // Every file of the dashboard, MQTT.js included, is among the assets wrangler would upload.
    const assets = countEntries(join(clone, 'edge', 'dashboard', 'public'));
    expect(output).toContain(`Read ${assets} files from the assets directory`);
    expect(existsSync(join(clone, 'out', 'worker.js'))).toBe(true);
  }, 120_000);
});
