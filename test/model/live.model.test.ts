/**
 * The model test against a live namespace: the real Worker on workerd,
 * clients over real WebSockets, counts from the admin API. Fewer and
 * shorter sequences than in-process, and no pauses or eviction (the clock
 * is real), but the same actions, model and invariants, so what the
 * in-process harness might hide (the Durable Object adapter, deferred
 * output, attachments) is covered too. Each sequence gets a namespace of its own.
 *
 * Longer: MODEL_LIVE_RUNS=200 MODEL_SEED=random npx vitest run test/model/live.model.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { liveDriver } from './live-driver.ts';
import { describeFailure, runModel, settingsFromEnvironment } from './run.ts';

const MaxInflight = 3;
const Token = 'model-test-admin-token';

let edge: TestEdge;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_ADMIN_TOKEN: Token, MQTT_MAX_INFLIGHT: String(MaxInflight), MQTT_NAMESPACES: '*' });
});
afterAll(async () => {
  await edge?.dispose();
});

describe('model test: a live namespace on workerd against the reference model', () => {
  it('keeps every invariant over random sequences of client actions', async () => {
    const settings = settingsFromEnvironment({ runs: 30, maxCommands: 40 });
    let sequences = 0;
    let steps = 0;
    let namespaces = 0;
    const details = await runModel({
      ...settings,
      runs: Number(process.env['MODEL_LIVE_RUNS'] ?? 30),
      controlsTime: false,
      settings: { maxInflight: MaxInflight },
      makeDriver: async () => liveDriver(edge, `model-${++namespaces}`, Token),
      onSequence: (commands) => {
        sequences++;
        steps += commands;
      },
    });
    console.log(`model (live): ${sequences} sequences, ${steps} steps, seed ${details.seed}${details.failed ? ', FAILED' : ''}`);
    if (details.failed) expect.fail(describeFailure(details, 'npx vitest run test/model/live.model.test.ts', settings.maxCommands));
  }, 240_000);
});
