/**
 * The settings file of `--config`: lines `NAME=value`, blank lines and `#`
 * comments, the subset that systemd's EnvironmentFile= and docker's
 * --env-file read alike, so that one file can serve all three. Where the two
 * differ (systemd strips quotes around a value, docker keeps them), the file
 * is refused rather than read the way only one of them would.
 */

export interface EnvFileEntry {
  name: string;
  value: string;
  /** 1-based, for messages. */
  line: number;
}

export interface ParsedEnvFile {
  /** In file order; a name given twice is there twice (the last one wins, as in systemd and docker). */
  entries: EnvFileEntry[];
  /** One text per bad line: `line 3: ...`. */
  problems: string[];
}

const Assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;
const Quoted = /^(["']).*\1$/;

/**
 * @example
 * parseEnvFile('# the edge\nMQTT_EDGE_URL=wss://edge.example/mqtt\n')
 * // { entries: [{ name: 'MQTT_EDGE_URL', value: 'wss://edge.example/mqtt', line: 2 }], problems: [] }
 */
export function parseEnvFile(text: string): ParsedEnvFile {
  const entries: EnvFileEntry[] = [];
  const problems: string[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = Assignment.exec(line);
    if (match === null) {
      problems.push(`line ${index + 1}: expected NAME=value, found "${line}"`);
      continue;
    }
    const name = match[1] as string;
    const value = (match[2] as string).trim();
    if (value.length >= 2 && Quoted.test(value)) {
      problems.push(`line ${index + 1}: ${name}'s value is in quotes, which systemd removes and docker --env-file keeps: write it without them`);
      continue;
    }
    entries.push({ name, value, line: index + 1 });
  }
  return { entries, problems };
}
