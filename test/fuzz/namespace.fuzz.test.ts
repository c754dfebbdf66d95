/**
 * One live namespace (the real Worker on workerd) under fuzz connections at
 * every level while a witness pair of MQTT.js clients exchanges numbered
 * QoS 1 messages next to them; see namespace-fuzz.ts for what each fuzz
 * connection must see.
 *
 * FUZZ_NAMESPACE_RUNS (connections) and FUZZ_SEED override the defaults;
 * FUZZ_CASE replays one case of a seed. The run prints
 * `fuzz: namespace: N cases, seed S` and, on failure, each failing case
 * with the bytes it sent and what came back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { recordAllMqttJs } from './captures.ts';
import { formatFailures, runNamespaceFuzz, topOutcomes, type NamespaceFuzzReport } from './namespace-fuzz.ts';
import { fuzzSettings, reportCount } from './settings.ts';

/** Small, so that "too large" is cheap to reach; the witness messages are far below it. */
const MaxPacketSize = 16_384;
const settings = fuzzSettings();
const only = process.env['FUZZ_CASE'] === undefined || process.env['FUZZ_CASE'] === '' ? undefined : Number(process.env['FUZZ_CASE']);

let edge: TestEdge;
let report: NamespaceFuzzReport;

beforeAll(
  async () => {
    edge = await startTestEdge({ MQTT_MAX_PACKET_SIZE: String(MaxPacketSize) });
    const captures = await recordAllMqttJs();
    report = await runNamespaceFuzz({
      mqttUrl: edge.mqttUrl,
      logs: edge.logs,
      runs: settings.namespaceRuns,
      seed: settings.seed,
      captures,
      maxPacketSize: MaxPacketSize,
      ...(only === undefined ? {} : { only }),
    });
    reportCount('namespace', report.cases, report.seed, {
      sweep: report.sweepCases,
      ms: report.durationMs,
      failing: report.failures.length,
      witnessMessages: report.witness.published,
      outcomes: topOutcomes(report.outcomes),
    });
    if (report.failures.length > 0) console.log(formatFailures(report, 20));
  },
  Math.max(120_000, settings.namespaceRuns * 200),
);

afterAll(async () => {
  await edge?.dispose();
});

describe('a live namespace under fuzz connections', () => {
  it('answers every fuzz connection: a valid close or DISCONNECT reason, the right one where the spec fixes it, never a hang', () => {
    expect(report.cases).toBe(only === undefined ? report.sweepCases + settings.namespaceRuns : 1);
    expect(report.failures.map((failure) => ({ case: failure.index, violations: failure.violations }))).toEqual([]);
  });

  it('never corrupts the witness session: every QoS 1 message once, in order, intact, through an offline period', () => {
    expect(report.witness.violations.slice(0, 20)).toEqual([]);
    expect(report.witness.received).toBe(report.witness.published);
    expect(report.witness.published).toBeGreaterThan(20);
  });

  it('never lets an untyped throw out of a handler (no handler_failed / message_failed / uncaught lines)', () => {
    // The log pipeline works: the fuzz connections' protocol errors are there.
    expect(edge.logs.some((line) => line.includes('connection.protocol-error'))).toBe(only === undefined);
    expect(report.logProblems).toEqual([]);
  });
});
