/**
 * A real mosquitto (Debian's package) for differential and bridge tests:
 * started on a free port of 127.0.0.1 with a configuration, password and ACL
 * file of the test's, and stopped by dispose. mosquitto cannot listen on
 * port 0 and report it, so the port is probed first; a lost race (another
 * process took it) is retried with a new port. A test that restarts the
 * broker passes the port of the first one (`port`) to get the same again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/free-port.ts';

export const MosquittoBinary = '/usr/sbin/mosquitto';
export const hasMosquitto = existsSync(MosquittoBinary);

export interface MosquittoOptions {
  /** mosquitto.conf lines after the listener (e.g. `allow_anonymous true`). Default: anonymous allowed. */
  config?: string[];
  /** The text of a password file (mosquitto_passwd format); written and configured. */
  passwords?: string;
  /** The text of an ACL file; written and configured. */
  acl?: string;
  /** Also listen for MQTT over WebSocket (on wsPort). */
  websockets?: boolean;
  /**
   * Listen on this port instead of a free one (to start a broker again where
   * clients expect it). Tried as given on every attempt: an old listener's
   * port can take a moment to be free again.
   */
  port?: number;
}

export interface Mosquitto {
  port: number;
  /** Set when websockets was asked for. */
  wsPort?: number;
  url: string;
  /** Everything mosquitto logged (stderr and stdout). */
  log(): string;
  dispose(): Promise<void>;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(options: MosquittoOptions): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-'));
  const port = options.port ?? (await freePort());
  const wsPort = options.websockets === true ? await freePort() : undefined;
  const lines = [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type all'];
  // Started as root (CI containers), mosquitto becomes the mosquitto user before it reads
  // the password and ACL files, which are the test's and private (0600): stay root instead.
  if (process.getuid?.() === 0) lines.push('user root');
  if (wsPort !== undefined) lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
  if (options.passwords !== undefined) {
    writeFileSync(join(dir, 'passwd'), options.passwords, { mode: 0o600 });
    lines.push(`password_file ${join(dir, 'passwd')}`);
  }
  if (options.acl !== undefined) {
    writeFileSync(join(dir, 'acl'), options.acl, { mode: 0o600 });
    lines.push(`acl_file ${join(dir, 'acl')}`);
  }
  const config = options.config ?? ['allow_anonymous true'];
  // Per-listener settings (allow_anonymous, ...) apply to every listener with per_listener_settings false (the default).
  writeFileSync(join(dir, 'mosquitto.conf'), [...lines, ...config, ''].join('\n'));
  const child: ChildProcess = spawn(MosquittoBinary, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));
  try {
    await waitForPort(port, () => running, () => output);
    if (wsPort !== undefined) await waitForPort(wsPort, () => running, () => output);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    ...(wsPort === undefined ? {} : { wsPort }),
    url: `mqtt://127.0.0.1:${port}`,
    log: () => output,
    async dispose() {
      if (running) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once something accepts TCP connections on the port (mosquitto logs no machine-readable ready line). */
async function waitForPort(port: number, isRunning: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!isRunning()) throw new Error(`mosquitto exited before listening on ${port}:\n${output()}`);
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within 10 s:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
