/**
 * A device behind the sidecar publishes QoS 0 as fast as its socket takes
 * it, beside 100 quiet devices on the same sidecar that each make a QoS 1
 * round trip a second. A TCP device can be read more slowly, so it must
 * never be disconnected for its pace: the edge grants its channel a window
 * (link protocol version 3) and the sidecar reads it only while it has
 * credit. The quiet devices keep every message, are never stalled, and
 * keep their round trip (its p99 within twice its value without the
 * publisher is what `npm run attacks` holds them to).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { connectRawDevice, floodSocket } from './flood.ts';
import { startEdgeAndSidecar, type SidecarProcess } from './sidecar-process.ts';
import { expectUnharmed, startQuietDevices } from './victim.ts';

const PhaseMs = 3_000;
/** Below this a p99 is the machine's noise, not the namespace's: the ratio is taken against at least this. */
const NoiseFloorMs = 25;

let sidecar: SidecarProcess;
let stop: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  ({ sidecar, stop } = await startEdgeAndSidecar());
});
afterAll(() => stop());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** 64 KiB of 64-byte QoS 0 PUBLISHes, written as one. */
const burst = Buffer.concat(Array.from({ length: 820 }, () => encodePacket({ cmd: 'publish', topic: 'fast/stream', payload: Buffer.alloc(64, 0x66), qos: 0, retain: false, dup: false }, 4)));

it('never disconnects a device that publishes as fast as it can, and it does not stall 100 quiet devices beside it', { timeout: 60_000 }, async () => {
  const url = `mqtt://127.0.0.1:${sidecar.tcpPort}`;
  const quiet = await startQuietDevices(url, 100, { intervalMs: 1000 });
  await sleep(PhaseMs);
  const alone = quiet.phase();

  const { socket: publisher } = await connectRawDevice(sidecar.tcpPort, 'fast-publisher', 30);
  let closedBy: string | undefined;
  publisher.on('close', () => (closedBy ??= 'the broker'));
  const { bytes: written } = await floodSocket(publisher, burst, PhaseMs);
  // Every round trip started beside it, however late it comes back: what the flood left queued counts too.
  const beside = await quiet.stop();
  expect(closedBy, 'the fast publisher was disconnected').toBeUndefined();
  closedBy = 'the test';
  publisher.destroy();

  const ratio = beside.p99 / Math.max(alone.p99, NoiseFloorMs);
  console.log(
    `fast publisher through the sidecar: ${(written / 2 ** 20).toFixed(0)} MiB (${((written / 80 / PhaseMs) * 1000).toFixed(0)} msgs/s) in ${PhaseMs} ms, never disconnected; ` +
      `100 quiet devices' QoS 1 round trip p99 ${alone.p99.toFixed(1)} ms alone, ${beside.p99.toFixed(1)} ms beside it (×${ratio.toFixed(2)})`,
  );
  expect(written).toBeGreaterThan(0);
  expectUnharmed(beside, 'a device publishing as fast as it can (quiet devices on the same sidecar)');
  if (process.env['ATTACK_STRICT'] === '1') expect(ratio, 'the quiet devices round trip beside the fast publisher, against without it').toBeLessThanOrEqual(2);
});
