import { buildEdge } from '../../scripts/local-edge.ts';

/** Bundle the Worker once; test files find it through EDGE_BUNDLE. */
export default async function setup(): Promise<void> {
  process.env['EDGE_BUNDLE'] = await buildEdge();
}
