/**
 * WebSocket clients that flood the edge with PINGREQs, run as a process of
 * their own (`tsx test/attacks/ws-flooders.ts <url> <clients> <ms>`): the
 * flood costs its sender much CPU, and a witness in the same process would
 * measure its own event loop instead of the broker. Half the clients send
 * 1,000 PINGREQs per WebSocket message, the others one, as a client library
 * does; each reads what it gets and keeps at most 256 KiB unsent. Prints
 * one JSON line: PINGREQs sent, PINGRESPs received, and each client's close
 * code (null: still open at the end).
 */
import WebSocket from 'ws';
import { encodePacket } from '../../shared/codec/encoder.ts';

const [url, clientsText, msText] = process.argv.slice(2);
const clients = Number(clientsText);
const floodMs = Number(msText);
const MaxBufferedBytes = 256 * 1024;

interface Flooder {
  ws: WebSocket;
  received: number;
  closedWith: number | null;
}

async function open(i: number): Promise<Flooder> {
  const ws = new WebSocket(url as string, 'mqtt');
  const flooder: Flooder = { ws, received: 0, closedWith: null };
  ws.on('message', (data: Buffer) => (flooder.received += data.length));
  ws.on('close', (code) => (flooder.closedWith = code));
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `gw-pinger-${i}`, clean: true, keepalive: 0 }, 4));
  const deadline = Date.now() + 10_000;
  while (flooder.received < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  return flooder;
}

async function flood(flooder: Flooder, perMessage: number, deadline: number): Promise<number> {
  const pings = Buffer.alloc(2 * perMessage, Buffer.of(0xc0, 0x00));
  let sent = 0;
  let messages = 0;
  while (Date.now() < deadline && flooder.ws.readyState === WebSocket.OPEN) {
    if (flooder.ws.bufferedAmount < MaxBufferedBytes) {
      flooder.ws.send(pings);
      sent += perMessage;
      if (++messages % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    } else {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  return sent;
}

const flooders = await Promise.all(Array.from({ length: clients }, (_, i) => open(i)));
process.stdout.write('ready\n');
const deadline = Date.now() + floodMs;
const sent = (await Promise.all(flooders.map((flooder, i) => flood(flooder, i % 2 === 0 ? 1_000 : 1, deadline)))).reduce((sum, n) => sum + n, 0);
const closes = flooders.map((flooder) => flooder.closedWith);
const answered = flooders.reduce((sum, flooder) => sum + Math.max(0, flooder.received - 4) / 2, 0);
for (const flooder of flooders) flooder.ws.terminate();
process.stdout.write(`${JSON.stringify({ sent, answered, closes })}\n`);
process.exit(0);
