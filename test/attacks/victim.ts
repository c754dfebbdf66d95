/**
 * What an attack may not do to the victim of scripts/victim.ts: lose one of
 * its messages, or stall it for seconds.
 */
import { expect } from 'vitest';
import type { VictimReport } from '../../scripts/victim.ts';

export { startQuietDevices, startVictim, type QuietDevices, type Victim, type VictimReport } from '../../scripts/victim.ts';

/**
 * What an attack must not do to a well-behaved client of the same namespace:
 * lose one of its messages, or stall it for seconds. That is what `npm test`
 * asserts, on whatever machine runs it. The latency figure itself depends on
 * the machine (a p99 of 42 ms on a quiet one, 381 ms on one busy with other
 * work), so it is reported here and held to 250 ms only by `npm run attacks`
 * (ATTACK_STRICT=1), as the benchmark holds its figures.
 */
export function expectUnharmed(report: VictimReport, attack: string, options: { typicalBelowMs?: number } = {}): void {
  console.log(`victim during ${attack}: ${report.received}/${report.sent} back, p50 ${report.p50.toFixed(1)} ms, p99 ${report.p99.toFixed(1)} ms, max ${report.max.toFixed(1)} ms`);
  expect(report.sent).toBeGreaterThan(10);
  expect(report.lost).toBe(0);
  expect(report.max, `the victim stalled during ${attack}`).toBeLessThan(StallMs);
  // Where the fault is that every message waits behind the attack, half of them being that late is the stall.
  if (options.typicalBelowMs !== undefined) expect(report.p50, `the victim's typical round trip during ${attack}`).toBeLessThan(options.typicalBelowMs);
  if (process.env['ATTACK_STRICT'] === '1') expect(report.p99, `the victim's p99 during ${attack}`).toBeLessThan(StrictP99Ms);
}

/** A round trip this long is a stall, however busy the machine. */
const StallMs = 5_000;
/** The figure the attack script holds the victim to (issue 13): a p99 under 250 ms. */
const StrictP99Ms = 250;
