/**
 * The version of the package the sidecar runs from, for `--version` and
 * /metrics. Read at run time rather than imported: `../package.json` is the
 * repository's manifest from sidecar/ and the one the package build writes
 * to dist/package/ from the compiled sidecar, and Node before 20.10 cannot
 * parse a JSON import's `with { type: 'json' }`.
 */
import { readFileSync } from 'node:fs';

export const sidecarVersion: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
