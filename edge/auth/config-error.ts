/**
 * A configuration file (password file, ACL file) that cannot be used as
 * written. Thrown while loading, before any client connects, so the broker
 * refuses to start with a half-understood access policy instead of quietly
 * dropping the lines it could not read.
 *
 * The message names the line and the problem, never the line's text: a
 * password file line holds a hash, and errors end up in logs.
 *
 * @example
 * try { parsePasswordFile(text); }
 * catch (e) { if (e instanceof ConfigError) console.error(`passwords: ${e.message}`); }
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** 1-based line number in the file's text. */
  readonly line: number;

  constructor(line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.line = line;
  }
}
