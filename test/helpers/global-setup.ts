import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEdge, repoRoot } from '../../scripts/local-edge.ts';

/**
 * Bundle the Workers once; test files find them through EDGE_BUNDLE (the
 * project's Worker) and HOOKS_BUNDLE (a Worker of our own built with defineBroker and hooks).
 * PACKAGE_TEST_DIR is where the files of test/package/ share one packed
 * package (test/package/packed.ts packs it there on first use, not here).
 */
export default async function setup(): Promise<() => void> {
  const [edge, hooks] = await Promise.all([
    buildEdge(),
    buildEdge(join(repoRoot, 'test', 'fixtures', 'hooks-worker.ts'), join(repoRoot, 'dist', 'hooks-worker')),
  ]);
  process.env['EDGE_BUNDLE'] = edge;
  process.env['HOOKS_BUNDLE'] = hooks;
  const packageDir = mkdtempSync(join(tmpdir(), 'mqtt-package-'));
  process.env['PACKAGE_TEST_DIR'] = packageDir;
  return () => rmSync(packageDir, { recursive: true, force: true });
}
