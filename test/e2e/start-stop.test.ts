/**
 * `npm start` as a user (or systemd, Docker, a terminal) stops it. npm runs
 * the script under `sh -c`, and Debian's /bin/sh (dash) neither passes a
 * signal on nor execs: `kill <npm pid>` used to leave node and workerd
 * running with the ports and the clients. Whatever stops it now, the whole
 * stack ends and frees its ports within seconds, and its clients hear it as
 * a broker stop: wills published, 5.0 clients DISCONNECT 0x8B, over
 * WebSocket and through the sidecar alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { freePort } from '../../scripts/free-port.ts';
import { childPids } from '../../scripts/processes.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { connectClient, eventually, type TestClient } from '../helpers/mqtt-clients.ts';

interface Stack {
  shell: ChildProcess;
  output: () => string;
  wsPort: number;
  tcpPort: number;
  /** The processes of the stack: npm, node running scripts/start.ts, workerd. */
  pids: { npm: number; node: number; workerd: number };
  exited: Promise<void>;
}

const stacks: Stack[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const stack of stacks.splice(0)) {
    for (const pid of Object.values(stack.pids)) kill(pid, 'SIGKILL');
    kill(-(stack.shell.pid as number), 'SIGKILL');
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `sh -c 'npm start'`, in a process group of its own (as a terminal's foreground job), with the test's prebuilt bundle. */
async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mqtt-start-'));
  dirs.push(dataDir);
  const wsPort = await freePort();
  const tcpPort = await freePort();
  const shell = spawn('sh', ['-c', 'npm start'], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MQTT_WS_PORT: String(wsPort), MQTT_TCP_PORT: String(tcpPort), MQTT_DATA_DIR: dataDir, MQTT_LOG_LEVEL: 'info', ...env },
  });
  let output = '';
  shell.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  shell.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
  const stack: Stack = { shell, output: () => output, wsPort, tcpPort, pids: { npm: 0, node: 0, workerd: 0 }, exited };
  stacks.push(stack);
  await eventually(() => output.includes('MQTT broker ready') || shell.exitCode !== null, 60_000, 'the ready line');
  if (!output.includes('MQTT broker ready')) throw new Error(`npm start did not start:\n${output}`);
  const npm = childPids(shell.pid as number, 'npm')[0] as number;
  const innerShell = childPids(npm, 'sh')[0] as number;
  const node = childPids(innerShell, 'node')[0] as number;
  const workerd = childPids(node, 'workerd')[0] as number;
  stack.pids = { npm, node, workerd };
  expect([npm, node, workerd].every((pid) => pid > 0)).toBe(true);
  return stack;
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** What a client heard as the stack stopped: the DISCONNECT's reason code, if one came, and whether the socket closed. */
function listen(client: MqttClient): { disconnect: number | undefined; closed: boolean } {
  const heard = { disconnect: undefined as number | undefined, closed: false };
  client.on('disconnect', (packet) => (heard.disconnect = packet.reasonCode));
  client.on('close', () => (heard.closed = true));
  return heard;
}

/** The clients of one run: a 5.0 client over WebSocket with a will, a 5.0 client through the sidecar, a 3.1.1 subscriber of the wills. */
async function clientsOf(stack: Stack): Promise<{ ws: ReturnType<typeof listen>; tcp: ReturnType<typeof listen>; watcher: TestClient }> {
  const watcher = await connectClient(`mqtt://127.0.0.1:${stack.tcpPort}`, { protocolVersion: 4, clientId: 'watcher' });
  await watcher.client.subscribeAsync('wills/#', { qos: 1 });
  const ws = await connectClient(`ws://127.0.0.1:${stack.wsPort}/mqtt`, { protocolVersion: 5, clientId: 'ws-5', will: { topic: 'wills/ws-5', payload: Buffer.from('gone'), qos: 1, retain: false } });
  const tcp = await connectClient(`mqtt://127.0.0.1:${stack.tcpPort}`, { protocolVersion: 5, clientId: 'tcp-5' });
  return { ws: listen(ws.client), tcp: listen(tcp.client), watcher };
}

async function expectStackGone(stack: Stack, since: number): Promise<void> {
  await eventually(() => Object.values(stack.pids).every((pid) => !isAlive(pid)), 10_000, 'every process of the stack to end');
  expect(await isPortFree(stack.wsPort)).toBe(true);
  expect(await isPortFree(stack.tcpPort)).toBe(true);
  // Seconds, not the 15 s grace: nothing waited for a timeout.
  expect(Date.now() - since).toBeLessThan(5_000);
}

describe('npm start', () => {
  it('stops the whole stack on kill -TERM of the npm process, telling its clients as a broker stop does', async () => {
    const stack = await startStack();
    const { ws, tcp, watcher } = await clientsOf(stack);
    const since = Date.now();
    process.kill(stack.pids.npm, 'SIGTERM');
    await expectStackGone(stack, since);
    expect(ws).toEqual({ disconnect: ReasonCode.ServerShuttingDown, closed: true });
    expect(tcp).toEqual({ disconnect: ReasonCode.ServerShuttingDown, closed: true });
    // The will went out before the watcher (a 3.1.1 client: a plain close) was let go.
    expect(watcher.messages.map((m) => m.topic)).toEqual(['wills/ws-5']);
    expect(stack.output()).toMatch(/process\.stopping.*reason=(SIGTERM|parent-exited)/);
  });

  it('stops the same way on Ctrl-C, which signals the whole foreground process group (workerd would die of it at once)', async () => {
    const stack = await startStack();
    const { ws, tcp } = await clientsOf(stack);
    const since = Date.now();
    process.kill(-(stack.shell.pid as number), 'SIGINT');
    await expectStackGone(stack, since);
    expect(ws.disconnect).toBe(ReasonCode.ServerShuttingDown);
    expect(tcp.disconnect).toBe(ReasonCode.ServerShuttingDown);
  });

  it('says in one line which setting to change when a port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as { port: number }).port;
    try {
      const shell = spawn('sh', ['-c', 'npm start'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MQTT_WS_PORT: String(taken), MQTT_TCP_PORT: String(await freePort()), MQTT_DATA_DIR: mkdtempSync(join(tmpdir(), 'mqtt-start-')) } });
      let stderr = '';
      shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => shell.once('exit', resolve));
      expect(code).not.toBe(0);
      const lines = stderr.split('\n').filter((line) => line.includes(String(taken)));
      expect(lines).toEqual([`port ${taken} on 127.0.0.1 is in use: set MQTT_WS_PORT to a free port, or stop what listens there`]);
      expect(stderr).not.toMatch(/--port|\n\s+at /);
    } finally {
      holder.close();
    }
  });
});
