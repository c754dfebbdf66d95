/**
 * Writes the generated regions of docs/conformance.md (summary, "not yet"
 * list, one table per version, the 3.1 differences) from
 * test/conformance/matrix.ts. test/unit/conformance-matrix.test.ts fails
 * until the page matches the matrix.
 *
 *   npx tsx scripts/conformance-doc.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderRegions, withRegions } from '../test/conformance/render.ts';

const page = fileURLToPath(new URL('../docs/conformance.md', import.meta.url));
const before = readFileSync(page, 'utf8');
const after = withRegions(before, renderRegions());
if (after === before) {
  console.log('docs/conformance.md: up to date');
} else {
  writeFileSync(page, after);
  console.log('docs/conformance.md: regions rewritten');
}
