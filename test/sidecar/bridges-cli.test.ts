/**
 * A bad bridge line stops both ways of running the sidecar before anything
 * listens, with the line and the option in the message: `tsx sidecar/main.ts`
 * and `npm start` (scripts/start.ts).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';

const badBridges = ['connection b1', 'address 127.0.0.1:1883', 'topic a/# both 1', 'round_robin true'].join('\n');
const dataDir = mkdtempSync(join(tmpdir(), 'bridges-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function run(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('a bad bridge line', () => {
  it('stops sidecar/main.ts with exit code 1 and a config.invalid line naming it', async () => {
    const { code, stderr } = await run('sidecar/main.ts', { MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_BRIDGES: badBridges });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'error', event: 'config.invalid', error: 'MQTT_BRIDGES line 4: round_robin is a mosquitto bridge option this bridge does not support' }),
    ]);
  });

  it('stops npm start (scripts/start.ts) before the edge starts, with the same message', async () => {
    const { code, stdout, stderr } = await run('scripts/start.ts', { MQTT_DATA_DIR: dataDir, MQTT_WS_PORT: '0', MQTT_TCP_PORT: '0', MQTT_BRIDGES: badBridges, WRANGLER_SEND_METRICS: 'false' });
    expect(code).toBe(1);
    expect(stderr).toContain('configuration error: invalid sidecar configuration:\n  MQTT_BRIDGES line 4: round_robin is a mosquitto bridge option this bridge does not support');
    expect(stdout).not.toContain('MQTT broker ready');
  });
});
