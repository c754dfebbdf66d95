/** A mosquitto password file written by the real `mosquitto_passwd`, for both brokers. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The text of a password file with `users` (username → password), hashed
 * the way mosquitto 2.0 does by default ($7$, PBKDF2-SHA512).
 * Undefined when there are no users: then neither broker gets a file.
 */
export function mosquittoPasswordFile(users: Readonly<Record<string, string>>): string | undefined {
  const entries = Object.entries(users);
  if (entries.length === 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'diff-passwd-'));
  try {
    const file = join(dir, 'passwd');
    entries.forEach(([username, password], index) => {
      execFileSync('mosquitto_passwd', [...(index === 0 ? ['-c'] : []), '-b', file, username, password]);
    });
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
