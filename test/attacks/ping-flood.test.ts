/**
 * A device floods the sidecar with PINGREQs (which the sidecar answers
 * itself). Not reading the PINGRESPs once grew the sidecar to 1.5 GB and
 * crashed it out of memory, disconnecting every device; reading them, it
 * raised the other TCP clients' p99 to 2.7 s. Now a device whose output is
 * backed up is not read, so the flood stops itself, and the PINGRESPs of
 * one read leave in one write: the sidecar's memory stays flat, it stays
 * up, and a TCP client through it and a WebSocket client of the edge keep
 * every message and their latency.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestEdge } from '../helpers/edge.ts';
import { connectRawDevice, floodSocket } from './flood.ts';
import { startEdgeAndSidecar, type SidecarProcess } from './sidecar-process.ts';
import { expectUnharmed, startVictim } from './victim.ts';

/** A flood runs this long at most (it may stall itself sooner). */
const FloodMs = 4_000;
/**
 * What the sidecar may grow by while flooded. What it holds for the flooder
 * is bounded (the answers to one read), but reading the few MiB the sockets'
 * buffers hold leaves garbage until V8 collects it; before the bound it grew
 * by 266 MiB in these 4 s (and on until it crashed).
 */
const MaxGrowthBytes = 96 * 1024 * 1024;
/** What the sidecar may hold for the flooder: the answers to one read, and a socket's buffer. */
const MaxHeldBytes = 1024 * 1024;

let edge: TestEdge;
let sidecar: SidecarProcess;

let stop: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  ({ edge, sidecar, stop } = await startEdgeAndSidecar());
});
afterAll(() => stop());

/** 1 MiB of PINGREQs (half a million of them). */
const pings = Buffer.alloc(1024 * 1024, Buffer.of(0xc0, 0x00));

/** A device that connects, then writes PINGREQs as fast as the sidecar takes them for FloodMs; reads the answers or not. */
async function flood(read: boolean): Promise<{ sent: number; answered: number; stalled: boolean; held: number }> {
  const { socket, received } = await connectRawDevice(sidecar.tcpPort, `pinger-${read ? 'reading' : 'deaf'}`);
  if (!read) socket.pause();
  const { bytes: sent, stalled } = await floodSocket(socket, pings, FloodMs);
  // What the sidecar holds for it, before it goes.
  const { bufferedToDevice: held } = await sidecar.memory();
  socket.destroy();
  return { sent, answered: Math.max(0, received() - 4) / 2, stalled, held };
}

it('a device that sends PINGREQs and never reads the answers stops itself; the sidecar stays small and up, the others unharmed', { timeout: 60_000 }, async () => {
  const tcpVictim = await startVictim(`mqtt://127.0.0.1:${sidecar.tcpPort}`);
  const wsVictim = await startVictim(edge.mqttUrl);
  const before = await sidecar.memory();
  const { sent, stalled, held } = await flood(false);
  const after = await sidecar.memory();
  console.log(`PINGREQ flood without reading: ${(sent / 2 ** 20).toFixed(0)} MiB offered in ${FloodMs} ms (stalled: ${stalled}), ${(held / 1024).toFixed(0)} KiB held for it; sidecar RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB, heap ${(before.heapUsed / 2 ** 20).toFixed(0)} → ${(after.heapUsed / 2 ** 20).toFixed(0)} MiB`);
  // The sidecar stopped reading it: what it could write is what the sockets' buffers hold, not the flood.
  expect(stalled, 'the flood was read on although its answers were not').toBe(true);
  expect(held).toBeLessThan(MaxHeldBytes);
  expect(after.rss - before.rss).toBeLessThan(MaxGrowthBytes);
  expect(after.heapUsed - before.heapUsed).toBeLessThan(MaxGrowthBytes);
  expect(sidecar.exited).toBeUndefined();
  expectUnharmed(await tcpVictim.stop(), 'a PINGREQ flood that does not read (TCP client through the sidecar)');
  expectUnharmed(await wsVictim.stop(), 'a PINGREQ flood that does not read (WebSocket client)');
});

it('a device that sends PINGREQs as fast as it can and reads them gets them all; the sidecar stays small, the others unharmed', { timeout: 60_000 }, async () => {
  const tcpVictim = await startVictim(`mqtt://127.0.0.1:${sidecar.tcpPort}`);
  const wsVictim = await startVictim(edge.mqttUrl);
  const before = await sidecar.memory();
  const { sent, answered } = await flood(true);
  const after = await sidecar.memory();
  console.log(`PINGREQ flood, reading: ${(sent / 2 / 1e6).toFixed(1)} M PINGREQs offered, ${(answered / 1e6).toFixed(1)} M answered in ${FloodMs} ms; sidecar RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB, heap ${(before.heapUsed / 2 ** 20).toFixed(0)} → ${(after.heapUsed / 2 ** 20).toFixed(0)} MiB`);
  expect(answered).toBeGreaterThan(0);
  expect(after.rss - before.rss).toBeLessThan(MaxGrowthBytes);
  expect(sidecar.exited).toBeUndefined();
  expectUnharmed(await tcpVictim.stop(), 'a PINGREQ flood that reads (TCP client through the sidecar)');
  expectUnharmed(await wsVictim.stop(), 'a PINGREQ flood that reads (WebSocket client)');
});
