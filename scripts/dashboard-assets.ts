/**
 * The dashboard's one build step: MQTT.js copied from node_modules into the
 * Worker's static assets (wrangler.toml `[assets]`), so the page loads the
 * exact client the project depends on, from the broker's own origin, offline.
 * The copy is git-ignored. wrangler.toml's `[build]` runs this before every
 * `wrangler deploy` (dry runs and buildEdge() included) and `wrangler dev`;
 * startLocalEdge() runs it too, for a bundle built earlier.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** wrangler.toml's `[assets] directory`. */
export const dashboardAssetsDir = join(repoRoot, 'edge', 'dashboard', 'public');
/** MQTT.js's ES module build: the page imports it (`import mqtt from './vendor/mqtt.esm.js'`). */
const mqttPackage = join(repoRoot, 'node_modules', 'mqtt');
export const mqttAssetPath = join(dashboardAssetsDir, 'dashboard', 'vendor', 'mqtt.esm.js');

/** What is copied: the build, and its licence beside it (MIT: the copy carries the notice). */
const copies: ReadonlyArray<[string, string]> = [
  [join(mqttPackage, 'dist', 'mqtt.esm.js'), mqttAssetPath],
  [join(mqttPackage, 'LICENSE.md'), join(dirname(mqttAssetPath), 'mqtt.LICENSE.md')],
];

/** Copies MQTT.js into the assets unless the copy there is already the same bytes. */
export function copyDashboardAssets(): void {
  for (const [source, target] of copies) {
    const wanted = readFileSync(source);
    let present: Buffer | undefined;
    try {
      present = readFileSync(target);
    } catch {
      present = undefined;
    }
    if (present?.equals(wanted) === true) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, target);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) copyDashboardAssets();
