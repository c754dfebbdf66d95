/**
 * Thirty WebSocket clients flood the gateways (MQTT_GATEWAYS=4) with
 * PINGREQs, reading their PINGRESPs. One call at a time per gateway, each
 * carrying whatever had piled up, once made every client of those gateways
 * wait behind the flood (a witness's p99 of 1.4 s against 85 ms for a
 * client of the core). Now a gateway's calls carry a fair share of each
 * client's bytes within the credit the core returns per client, and a
 * client whose unsent input passes its bound is closed (1008): the witness,
 * a client of the same gateways, loses nothing and is not stalled.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { startTestEdge, withGateways, type TestEdge } from '../helpers/edge.ts';
import { eventually } from '../helpers/mqtt-clients.ts';
import { expectUnharmed, startVictim } from './victim.ts';

const Flooders = 30;
const FloodMs = 4_000;
/** Each WebSocket message holds this many PINGREQs. */
const PingsPerMessage = 1_000;
/** A flooder keeps at most this much unsent in its own socket (the test process must not grow either). */
const MaxBufferedBytes = 256 * 1024;

let edge: TestEdge;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_GATEWAYS: '4', MQTT_MAX_PACKET_RATE: '0' });
});
afterAll(async () => {
  await edge?.dispose();
});

interface Flooder {
  ws: WebSocket;
  answered: () => number;
  closedWith: () => number | undefined;
}

async function openFlooder(i: number): Promise<Flooder> {
  const ws = new WebSocket(edge.mqttUrl, 'mqtt');
  let received = 0;
  let closedWith: number | undefined;
  ws.on('message', (data: Buffer) => (received += data.length));
  ws.on('close', (code) => (closedWith = code));
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `gw-pinger-${i}`, clean: true, keepalive: 0 }, 4));
  await eventually(() => received >= 4, 10_000, 'the CONNACK');
  return { ws, answered: () => Math.max(0, received - 4) / 2, closedWith: () => closedWith };
}

const pings = Buffer.alloc(2 * PingsPerMessage, Buffer.of(0xc0, 0x00));

/** Sends PINGREQs as fast as the flooder's socket takes them, until the deadline. */
async function flood(flooder: Flooder, deadline: number): Promise<number> {
  let sent = 0;
  while (performance.now() < deadline && flooder.ws.readyState === WebSocket.OPEN) {
    if (flooder.ws.bufferedAmount < MaxBufferedBytes) {
      flooder.ws.send(pings);
      sent += PingsPerMessage;
    } else {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (sent % (50 * PingsPerMessage) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return sent;
}

// It sets the gateways' shape itself: once is enough (the `gateways` project would run the same again).
it.skipIf(withGateways)('keeps a client of the gateways unharmed while 30 clients of the same gateways flood them with PINGREQs', { timeout: 90_000 }, async () => {
  const flooders = await Promise.all(Array.from({ length: Flooders }, (_, i) => openFlooder(i)));
  const witness = await startVictim(edge.mqttUrl);
  const deadline = performance.now() + FloodMs;
  const sent = (await Promise.all(flooders.map((flooder) => flood(flooder, deadline)))).reduce((sum, n) => sum + n, 0);
  const report = await witness.stop();
  const answered = flooders.reduce((sum, flooder) => sum + flooder.answered(), 0);
  const closed = flooders.filter((flooder) => flooder.closedWith() === 1008).length;
  console.log(`${Flooders} PINGREQ flooders over 4 gateways: ${(sent / 1e6).toFixed(1)} M PINGREQs sent in ${FloodMs} ms, ${(answered / 1e6).toFixed(1)} M answered, ${closed} closed with 1008 for their backlog`);
  // A flooder is closed for its backlog, never for anything else (the core never stalled for it).
  for (const flooder of flooders) expect([undefined, 1008]).toContain(flooder.closedWith());
  for (const flooder of flooders) flooder.ws.terminate();
  expectUnharmed(report, `${Flooders} PINGREQ flooders on the same gateways`);
});
