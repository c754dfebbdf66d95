/**
 * Runs one of the repository's TypeScript entry points as a process of its
 * own, as a user would (`tsx sidecar/main.ts --help`), and gives back its
 * exit code and everything it wrote.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { repoRoot } from '../../scripts/local-edge.ts';

export interface ScriptExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `script` relative to the repository; `env` is added to this process's environment. */
export async function runScript(script: string, args: readonly string[] = [], env: Record<string, string> = {}): Promise<ScriptExit> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
