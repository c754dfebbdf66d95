/**
 * The long fuzz run, outside vitest: the codec properties and the live
 * namespace fuzzer of test/fuzz with many more cases.
 *
 *   npx tsx scripts/fuzz.ts --runs 50000 --seed 123
 *   npx tsx scripts/fuzz.ts --only namespace --namespace-runs 2000 --seed 7
 *   npx tsx scripts/fuzz.ts --only namespace --seed 7 --case 898   # replay one case
 *
 * --runs            cases per codec property (default 50000)
 * --namespace-runs  fuzz connections against the live edge (default runs / 10)
 * --seed            default: random (printed, so a failure can be replayed)
 * --only            codec | namespace
 * --case            replay one namespace case of the seed
 *
 * Prints one `fuzz: <name>: N cases, seed S` line per fuzzer and every
 * failure with its seed and case; exits 1 if anything failed.
 */
import { parseArgs } from 'node:util';
import { buildEdge } from './local-edge.ts';
import { startTestEdge } from '../test/helpers/edge.ts';
import { recordAllMqttJs } from '../test/fuzz/captures.ts';
import { codecProperties, formatReport } from '../test/fuzz/codec-fuzz.ts';
import { formatFailures, runNamespaceFuzz, topOutcomes } from '../test/fuzz/namespace-fuzz.ts';
import { reportCount } from '../test/fuzz/settings.ts';

const MaxPacketSize = 16_384;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '50000' },
    'namespace-runs': { type: 'string' },
    seed: { type: 'string' },
    only: { type: 'string' },
    case: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
  },
});

function count(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer, got ${text}`);
  return value;
}

const runs = count('runs', values.runs, 50_000);
const namespaceRuns = count('namespace-runs', values['namespace-runs'], Math.max(100, Math.round(runs / 10)));
const seed = count('seed', values.seed, Math.floor(Math.random() * 0x7fffffff));
const only = values.only;
if (only !== undefined && only !== 'codec' && only !== 'namespace') throw new Error(`--only must be codec or namespace, got ${only}`);
const replay = values.case === undefined ? undefined : count('case', values.case, 0);

let failed = false;
const started = Date.now();
console.log(`fuzz: seed ${seed}, ${runs} cases per codec property, ${namespaceRuns} namespace connections`);
const captures = await recordAllMqttJs();

if (only !== 'namespace') {
  for (const property of codecProperties) {
    const began = Date.now();
    try {
      const report = property.run({ runs, seed }, captures);
      reportCount(`codec ${report.name}`, report.cases, seed, { ms: Date.now() - began, ...formatReport(report) });
    } catch (error) {
      failed = true;
      console.log(`fuzz: codec FAILED: ${property.name} (seed ${seed}, ${Date.now() - began} ms)`);
      console.log(error instanceof Error ? error.message : String(error));
    }
  }
}

if (only !== 'codec') {
  process.env['EDGE_BUNDLE'] ??= await buildEdge();
  const edge = await startTestEdge({ MQTT_MAX_PACKET_SIZE: String(MaxPacketSize) });
  try {
    const report = await runNamespaceFuzz({
      mqttUrl: edge.mqttUrl,
      logs: edge.logs,
      runs: namespaceRuns,
      seed,
      captures,
      maxPacketSize: MaxPacketSize,
      concurrency: count('concurrency', values.concurrency, 4),
      ...(replay === undefined ? {} : { only: replay }),
    });
    reportCount('namespace', report.cases, seed, {
      sweep: report.sweepCases,
      ms: report.durationMs,
      failing: report.failures.length,
      witnessMessages: report.witness.published,
      witnessRedelivered: report.witness.redelivered,
      outcomes: topOutcomes(report.outcomes, 20),
    });
    if (report.failures.length > 0) {
      failed = true;
      console.log(formatFailures(report, 30));
    }
    if (report.witness.violations.length > 0) {
      failed = true;
      console.log(`fuzz: witness FAILED:\n  ${report.witness.violations.slice(0, 20).join('\n  ')}`);
    }
    if (report.logProblems.length > 0) {
      failed = true;
      console.log(`fuzz: edge logged ${report.logProblems.length} untyped throws:\n  ${report.logProblems.slice(0, 20).join('\n  ')}`);
    }
  } finally {
    await edge.dispose();
  }
}

console.log(`fuzz: ${failed ? 'FAILED' : 'passed'} in ${Math.round((Date.now() - started) / 1000)} s (seed ${seed})`);
process.exitCode = failed ? 1 : 0;
