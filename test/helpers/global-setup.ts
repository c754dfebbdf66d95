import { join } from 'node:path';
import { buildEdge, repoRoot } from '../../scripts/local-edge.ts';

/**
 * Bundle the Workers once; test files find them through EDGE_BUNDLE (the
 * project's Worker) and HOOKS_BUNDLE (a Worker of our own built with defineBroker and hooks).
 */
export default async function setup(): Promise<void> {
  const [edge, hooks] = await Promise.all([
    buildEdge(),
    buildEdge(join(repoRoot, 'test', 'fixtures', 'hooks-worker.ts'), join(repoRoot, 'dist', 'hooks-worker')),
  ]);
  process.env['EDGE_BUNDLE'] = edge;
  process.env['HOOKS_BUNDLE'] = hooks;
}
