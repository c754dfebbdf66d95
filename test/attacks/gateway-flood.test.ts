/**
 * Thirty WebSocket clients flood the gateways (MQTT_GATEWAYS=4) with
 * PINGREQs, reading their PINGRESPs: half put 1,000 in each WebSocket
 * message, half one each. One call at a time per gateway, each carrying
 * whatever had piled up, once made every client of those gateways wait
 * behind the flood (a witness's p99 of 1.4 s against 85 ms for a client of
 * the core; here it lost all but one message). Now a gateway's calls carry
 * a fair share of each client's bytes within the credit the core returns
 * per client, a client's messages of one turn go to the core as one piece of
 * work, and a client whose queue passes its bound is ended (0x96): the
 * witness, a client of the same gateways, loses nothing and is not stalled.
 * The flooders run as a process of their own (ws-flooders.ts), so that the
 * witness measures the broker and not the flood's sender.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { startTestEdge, withGateways, type TestEdge } from '../helpers/edge.ts';
import { expectUnharmed, startVictim } from './victim.ts';

const Flooders = 30;
const FloodMs = 4_000;

let edge: TestEdge;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_GATEWAYS: '4', MQTT_MAX_PACKET_RATE: '0' });
});
afterAll(async () => {
  await edge?.dispose();
});

/** Starts the flooders' process; `ready` once they are all connected, `done` with their result. */
function startFlooders(): { ready: Promise<void>; done: Promise<{ sent: number; answered: number; closes: Array<number | null> }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/attacks/ws-flooders.ts', edge.mqttUrl, String(Flooders), String(FloodMs)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = new Promise<{ sent: number; answered: number; closes: Array<number | null> }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.startsWith('ready\n')) markReady();
    });
    child.on('exit', (code) => {
      const last = output.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`the flooders exited with ${code}: ${output}`));
      else resolve(JSON.parse(last) as { sent: number; answered: number; closes: Array<number | null> });
    });
  });
  return { ready, done };
}

// It sets the gateways' shape itself: once is enough (the `gateways` project would run the same again).
it.skipIf(withGateways)('keeps a client of the gateways unharmed while 30 clients of the same gateways flood them with PINGREQs', { timeout: 90_000 }, async () => {
  const flooders = startFlooders();
  await flooders.ready;
  const witness = await startVictim(edge.mqttUrl);
  const { sent, answered, closes } = await flooders.done;
  const report = await witness.stop();
  // Ended for its backlog by the core (DISCONNECT 0x96, then a close 1002), as a client of the core past MQTT_MAX_PENDING_BYTES.
  const closed = closes.filter((code) => code === 1002).length;
  console.log(`${Flooders} PINGREQ flooders over 4 gateways: ${(sent / 1e6).toFixed(1)} M PINGREQs sent in ${FloodMs} ms, ${(answered / 1e6).toFixed(1)} M answered, ${closed} ended for their backlog`);
  // A flooder is closed for its backlog, never for anything else (the core never stalled for it).
  for (const code of closes) expect([null, 1002]).toContain(code);
  // Behind the flood the witness's median was 0.74–0.81 s (max 2.1–2.6 s); with fair shares 6–9 ms.
  expectUnharmed(report, `${Flooders} PINGREQ flooders on the same gateways`, { typicalBelowMs: 500 });
});
