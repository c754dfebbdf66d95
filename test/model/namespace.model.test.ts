/**
 * The model test of the namespace core, in-process: random sequences of
 * client actions (connect at 3.1, 3.1.1 and 5.0 with random Receive
 * Maximum, clean or resumed sessions with expiry, overlapping and shared
 * subscriptions, QoS 0/1/2 with and without retain, acknowledging at once,
 * late or never, drops, takeovers, time passing past keep-alive and expiry,
 * eviction from memory), each checked against the reference model.
 *
 * Longer: MODEL_RUNS=5000 MODEL_SEED=random npx vitest run test/model (or npx tsx scripts/model.ts).
 */
import { describe, expect, it } from 'vitest';
import { inProcessDriver } from './in-process-driver.ts';
import { describeFailure, runModel, settingsFromEnvironment } from './run.ts';

const MaxInflight = 3;

describe('model test: the namespace core against the reference model', () => {
  it('keeps every invariant over random sequences of client actions', async () => {
    const settings = settingsFromEnvironment({ runs: 400, maxCommands: 80 });
    let sequences = 0;
    let steps = 0;
    const details = await runModel({
      ...settings,
      controlsTime: true,
      settings: { maxInflight: MaxInflight },
      makeDriver: () => inProcessDriver({ maxInflight: MaxInflight }),
      onSequence: (commands) => {
        sequences++;
        steps += commands;
      },
    });
    console.log(`model (in-process): ${sequences} sequences, ${steps} steps, seed ${details.seed}${details.failed ? ', FAILED' : ''}`);
    if (details.failed) expect.fail(describeFailure(details, 'npx vitest run test/model/namespace.model.test.ts', settings.maxCommands));
  }, 300_000);
});
