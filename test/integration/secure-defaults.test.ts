/**
 * A Worker deployed as the repository ships it (no MQTT_ALLOW_ANONYMOUS, no
 * credentials) is closed: every client is refused, with a reason that says
 * what to set, on the wire (5.0 Reason String) and in the log. A Worker with
 * an authenticate hook of its own decides by the hook instead.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually } from '../helpers/mqtt-clients.ts';

let closed: TestEdge;
beforeAll(async () => {
  // '' is unset: the local edge's own default (open, for development) does not apply.
  closed = await startTestEdge({ MQTT_ALLOW_ANONYMOUS: '' });
});
afterAll(async () => {
  await closed?.dispose();
});

/** The refusing CONNACK's code and Reason String. */
function refusal(url: string, protocolVersion: 4 | 5, options: mqtt.IClientOptions = {}): Promise<{ code: number; reasonString: string | undefined }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion, reconnectPeriod: 0, ...options });
    client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'connack') return;
      const connack = packet as mqtt.IConnackPacket;
      client.end(true);
      resolve({ code: connack.reasonCode ?? connack.returnCode ?? 0, reasonString: connack.properties?.reasonString });
    });
    client.on('connect', () => reject(new Error('connection was accepted')));
    client.on('error', () => undefined);
  });
}

describe('secure by default', () => {
  it('refuses an anonymous 5.0 client with 0x87 and a Reason String naming what to set', async () => {
    const answer = await refusal(closed.mqttUrl, 5);
    expect(answer.code).toBe(ReasonCode.NotAuthorized);
    expect(answer.reasonString).toMatch(/MQTT_ALLOW_ANONYMOUS=true/);
    await eventually(() => closed.logs.some((line) => line.includes('"event":"connection.refused"') && line.includes('MQTT_PASSWORDS')), 5_000, 'the refusal in the log');
  });

  it('refuses a 3.1.1 client with a username too (there is nothing to check it against)', async () => {
    expect((await refusal(closed.mqttUrl, 4, { username: 'someone', password: 'pw' })).code).toBe(5);
  });

  it('lets an authenticate hook of the Worker decide when nothing is set', async () => {
    const hooks = await startTestEdge({ MQTT_ALLOW_ANONYMOUS: '' }, { scriptPath: process.env['HOOKS_BUNDLE'] as string });
    try {
      // The test Worker's hook lets clients without a username in, and refuses unknown users.
      const client = await connectClient(hooks.mqttUrl, { protocolVersion: 5 });
      await client.end(true);
      expect((await refusal(hooks.mqttUrl, 5, { username: 'stranger', password: 'x' })).code).toBe(ReasonCode.BadUserNameOrPassword);
    } finally {
      await hooks.dispose();
    }
  });
});
