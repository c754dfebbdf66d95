/**
 * Codec fuzzing (codec-fuzz.ts): valid packets of every type at levels 3,
 * 4 and 5 round-trip under any chunking; valid captures (generated, real
 * MQTT.js traffic, unit fixtures) mutated every way mutations.ts knows are
 * decoded without a throw, a hang or a reason code outside the codec's.
 *
 * Extends test/unit/codec/random.test.ts (random bytes, flipped bytes of a
 * fixture stream) with structure-aware generation, oracles and targeted
 * damage. FUZZ_RUNS (cases per property) and FUZZ_SEED override the
 * defaults; every property prints `fuzz: codec <name>: N cases, seed S`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { recordAllMqttJs, type Capture } from './captures.ts';
import { codecProperties, formatReport } from './codec-fuzz.ts';
import { fuzzSettings, reportCount } from './settings.ts';

const settings = fuzzSettings();
let captures: Capture[] = [];

beforeAll(async () => {
  captures = await recordAllMqttJs();
});

describe('MQTT.js captures', () => {
  it.each([3, 4, 5] as const)('level %i: a whole session of packets, every one a client sends', (level) => {
    const commands = new Set(captures.filter((capture) => capture.level === level).map((capture) => capture.cmd));
    expect([...commands].sort()).toEqual(['connect', 'disconnect', 'pingreq', 'puback', 'pubcomp', 'publish', 'pubrec', 'pubrel', 'subscribe', 'unsubscribe']);
  });
});

describe('codec fuzz', () => {
  // Long runs through vitest (FUZZ_RUNS=50000) get time in proportion.
  const timeout = Math.max(60_000, settings.runs * 10);

  it.each(codecProperties.map((property) => [property.name, property] as const))(
    '%s',
    (_name, property) => {
      const report = property.run({ runs: settings.runs, seed: settings.seed }, captures);
      reportCount(`codec ${report.name}`, report.cases, report.seed, formatReport(report));
      expect(report.cases).toBe(settings.runs);
    },
    timeout,
  );
});
