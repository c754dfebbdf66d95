/**
 * Case counts and seeds of the fuzzers: small and fixed in `npm test`,
 * overridden by the environment (`FUZZ_RUNS`, `FUZZ_NAMESPACE_RUNS`,
 * `FUZZ_SEED`) for longer runs, which is what scripts/fuzz.ts does.
 */

export interface FuzzSettings {
  /** Cases per codec property. */
  runs: number;
  /** Fuzz connections against the live namespace. */
  namespaceRuns: number;
  seed: number;
}

export const DefaultCodecRuns = 2000;
export const DefaultNamespaceRuns = 400;
/** Fixed, so `npm test` is reproducible; set FUZZ_SEED (or `random`) to explore. */
export const DefaultSeed = 20_260_503;

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}

export function fuzzSettings(): FuzzSettings {
  const seedText = process.env['FUZZ_SEED'];
  const seed = seedText === 'random' ? Math.floor(Math.random() * 0x7fffffff) : positiveInt('FUZZ_SEED', DefaultSeed);
  return {
    runs: positiveInt('FUZZ_RUNS', DefaultCodecRuns),
    namespaceRuns: positiveInt('FUZZ_NAMESPACE_RUNS', DefaultNamespaceRuns),
    seed,
  };
}

/** The one line every fuzz run prints: how many cases, from which seed. */
export function reportCount(name: string, cases: number, seed: number, extra?: Record<string, number | string>): string {
  const details = extra === undefined ? '' : ` ${Object.entries(extra).map(([key, value]) => `${key}=${value}`).join(' ')}`;
  const line = `fuzz: ${name}: ${cases} cases, seed ${seed}${details}`;
  console.log(line);
  return line;
}
