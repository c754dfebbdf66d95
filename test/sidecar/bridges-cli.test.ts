/**
 * A bad bridge line stops both ways of running the sidecar before anything
 * listens, with the line and the option in the message: `tsx sidecar/main.ts`
 * and `npm start` (scripts/start.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runScript } from '../helpers/run-script.ts';

const badBridges = ['connection b1', 'address 127.0.0.1:1883', 'topic a/# both 1', 'round_robin true'].join('\n');
const dataDir = mkdtempSync(join(tmpdir(), 'bridges-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('a bad bridge line', () => {
  it('stops sidecar/main.ts with exit code 1 and a config.invalid line naming it', async () => {
    const { code, stderr } = await runScript('sidecar/main.ts', [], { MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_BRIDGES: badBridges });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'error', event: 'config.invalid', error: 'MQTT_BRIDGES line 4: round_robin is a mosquitto bridge option this bridge does not support' }),
    ]);
  });

  it('stops npm start (scripts/start.ts) before the edge starts, with the same message', async () => {
    const { code, stdout, stderr } = await runScript('scripts/start.ts', [], { MQTT_DATA_DIR: dataDir, MQTT_WS_PORT: '0', MQTT_TCP_PORT: '0', MQTT_BRIDGES: badBridges, WRANGLER_SEND_METRICS: 'false' });
    expect(code).toBe(1);
    expect(stderr).toContain('configuration error: invalid sidecar configuration:\n  MQTT_BRIDGES line 4: round_robin is a mosquitto bridge option this bridge does not support');
    expect(stdout).not.toContain('MQTT broker ready');
  });
});
