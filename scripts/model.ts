/**
 * The long model-test run, outside vitest: the namespace core in-process
 * against the reference model (test/model), and optionally a live namespace.
 *
 *   npx tsx scripts/model.ts --runs 5000 --seed random
 *   npx tsx scripts/model.ts --runs 2000 --commands 150 --live-runs 200
 *
 * --runs       sequences in-process (default 5000)
 * --commands   longest sequence (default 100)
 * --live-runs  sequences against the Worker on workerd (default 0)
 * --seed       a number, or random (default); printed, with the replay command of any failure
 *
 * Exits 1 if a sequence broke an invariant.
 */
import { parseArgs } from 'node:util';
import { startTestEdge } from '../test/helpers/edge.ts';
import { inProcessDriver } from '../test/model/in-process-driver.ts';
import { liveDriver } from '../test/model/live-driver.ts';
import { describeFailure, runModel } from '../test/model/run.ts';

const MaxInflight = 3;
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5000' },
    commands: { type: 'string', default: '100' },
    'live-runs': { type: 'string', default: '0' },
    seed: { type: 'string', default: 'random' },
  },
});
const seed = values.seed === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const maxCommands = Number(values.commands);
let failed = false;

async function report(name: string, run: () => ReturnType<typeof runModel>, replay: string): Promise<void> {
  const started = Date.now();
  const details = await run();
  const steps = stepCount;
  stepCount = 0;
  console.log(`model (${name}): ${details.numRuns} sequences, ${steps} steps, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s: ${details.failed ? 'FAILED' : 'passed'}`);
  if (details.failed) {
    failed = true;
    console.log(describeFailure(details, replay, maxCommands));
  }
}

let stepCount = 0;
const common = { seed, maxCommands, settings: { maxInflight: MaxInflight }, onSequence: (commands: number) => void (stepCount += commands) };

await report(
  'in-process',
  () => runModel({ ...common, runs: Number(values.runs), controlsTime: true, makeDriver: () => inProcessDriver({ maxInflight: MaxInflight }) }),
  'npx vitest run test/model/namespace.model.test.ts',
);

const liveRuns = Number(values['live-runs']);
if (liveRuns > 0) {
  const token = 'model-script-admin-token';
  const edge = await startTestEdge({ MQTT_ADMIN_TOKEN: token, MQTT_MAX_INFLIGHT: String(MaxInflight), MQTT_NAMESPACES: '*' });
  let namespaces = 0;
  try {
    await report(
      'live',
      () => runModel({ ...common, runs: liveRuns, controlsTime: false, makeDriver: async () => liveDriver(edge, `model-${++namespaces}`, token) }),
      'MODEL_LIVE_RUNS=1 npx vitest run test/model/live.model.test.ts',
    );
  } finally {
    await edge.dispose();
  }
}
process.exit(failed ? 1 : 0);
