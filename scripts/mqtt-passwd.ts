/**
 * Adds or updates a user in a mosquitto password file, writing the same
 * `username:$7$<iterations>$<salt>$<digest>` lines as `mosquitto_passwd`
 * (PBKDF2-HMAC-SHA512, 12-byte salt, 101 iterations by default), so one
 * file serves both mosquitto and this broker (edge/auth/password-file.ts).
 *
 *   tsx scripts/mqtt-passwd.ts [-c] [-I iterations] <file> <username>
 *       password from stdin: typed twice, hidden, on a terminal; otherwise
 *       the first line of stdin (a second line, if any, must repeat it, so
 *       input prepared for mosquitto_passwd works too)
 *   tsx scripts/mqtt-passwd.ts [-c] [-I iterations] -b <file> <username> <password>
 *       batch mode: the password is visible in `ps` and shell history
 *
 *   -c  create the file, replacing any existing one
 *   -I  PBKDF2 iterations (default 101 like mosquitto_passwd; at most
 *       100,000, the most Cloudflare Workers will compute)
 */
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { DefaultIterations, MaxIterations, createPbkdf2Hash, formatPasswordHash } from '../edge/auth/password-hash.ts';

export interface PasswdRequest {
  file: string;
  username: string;
  /** Undefined: read it from stdin. */
  password: string | undefined;
  create: boolean;
  iterations: number;
}

export const usage = `usage: mqtt-passwd [-c] [-I iterations] <file> <username>
       mqtt-passwd [-c] [-I iterations] -b <file> <username> <password>`;

/**
 * Reads the command line (without `node` and the script path).
 *
 * @example
 * parsePasswdArguments(['-c', '-b', 'passwd', 'alice', 'secret']);
 * // { file: 'passwd', username: 'alice', password: 'secret', create: true, iterations: 101 }
 */
export function parsePasswdArguments(args: readonly string[]): PasswdRequest | { error: string } {
  let create = false;
  let batch = false;
  let iterations = DefaultIterations;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-c') create = true;
    else if (arg === '-b') batch = true;
    else if (arg === '-I') {
      const value = args[++i];
      if (value === undefined || !/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > MaxIterations) {
        return { error: `-I needs an iteration count in 1..${MaxIterations}` };
      }
      iterations = Number(value);
    } else if (arg.startsWith('-') && arg !== '-') return { error: `unknown option ${arg}` };
    else positional.push(arg);
  }
  if (positional.length !== (batch ? 3 : 2)) return { error: usage };
  const [file, username, password] = positional as [string, string, string | undefined];
  const problem = usernameProblem(username);
  if (problem !== undefined) return { error: problem };
  return { file, username, password, create, iterations };
}

/** Why `username` cannot be written to a password file line, if it cannot. */
export function usernameProblem(username: string): string | undefined {
  if (username === '') return 'the username must not be empty';
  if (username.includes(':')) return "the username must not contain ':'";
  if (/[\r\n]/.test(username)) return 'the username must not contain a line break';
  // mosquitto trims blanks around usernames and skips lines starting with '#'.
  if (username.trim() !== username) return 'the username must not start or end with blanks';
  if (username.startsWith('#')) return "the username must not start with '#'";
  return undefined;
}

/**
 * The file's text with `username`'s line set to `hash`: replaced where it
 * was (other lines, comments included, kept as they are), or appended.
 */
export function setUserLine(fileText: string, username: string, hash: string): string {
  const entry = `${username}:${hash}`;
  const lines = fileText === '' ? [] : fileText.replace(/\r?\n$/, '').split(/\r?\n/);
  const index = lines.findIndex((line) => {
    const colon = line.indexOf(':');
    return colon !== -1 && !line.trimStart().startsWith('#') && line.slice(0, colon).trim() === username;
  });
  if (index === -1) lines.push(entry);
  else lines[index] = entry;
  return `${lines.join('\n')}\n`;
}

/** The password from piped stdin: the first line; a second one, if present, must repeat it. */
export function passwordFromInput(input: string): string | { error: string } {
  if (input === '') return { error: 'no password on stdin' };
  const [first = '', second] = input.split(/\r?\n/);
  if (second !== undefined && second !== '' && second !== first) return { error: 'passwords do not match' };
  return first;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** One line from the terminal without echoing it. */
async function promptHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (chunk: string): void => {
        for (const char of chunk) {
          if (char === '\r' || char === '\n') {
            stdin.off('data', onData);
            process.stderr.write('\n');
            resolve(typed);
            return;
          }
          if (char === '\u0003') {
            stdin.off('data', onData);
            reject(new Error('interrupted'));
            return;
          }
          if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
          else typed += char;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

async function readPassword(): Promise<string | { error: string }> {
  if (!process.stdin.isTTY) return passwordFromInput(await readStdin());
  const password = await promptHidden('Password: ');
  const again = await promptHidden('Reenter password: ');
  return password === again ? password : { error: 'passwords do not match' };
}

/** Writes beside the target then renames, so a crash never leaves half a password file. */
function writeFileAtomically(file: string, text: string): void {
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, text, { mode: 0o600 });
  if (existsSync(file)) chmodSync(temporary, statSync(file).mode & 0o777);
  renameSync(temporary, file);
}

async function main(args: readonly string[]): Promise<number> {
  const request = parsePasswdArguments(args);
  if ('error' in request) {
    console.error(request.error);
    return 1;
  }
  if (!request.create && !existsSync(request.file)) {
    console.error(`${request.file} does not exist (use -c to create it)`);
    return 1;
  }
  const password = request.password ?? (await readPassword());
  if (typeof password !== 'string') {
    console.error(password.error);
    return 1;
  }
  const hash = await createPbkdf2Hash(new TextEncoder().encode(password), request.iterations);
  const existing = request.create ? '' : readFileSync(request.file, 'utf8');
  writeFileAtomically(request.file, setUserLine(existing, request.username, formatPasswordHash(hash)));
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
