/**
 * The command line of `edge-mqtt-sidecar` (and `tsx sidecar/main.ts`):
 * `--help`, `--version`, a flag per setting of settings.ts and `--config
 * <file>`. It only gathers the settings, flag over environment over file,
 * and remembers where each came from; config.ts judges the values, and a
 * value that came from a flag is then the command line's mistake (exit 2)
 * rather than the configuration's (exit 1).
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { SidecarConfigIssue, SidecarEnv } from './config.ts';
import { parseEnvFile } from './env-file.ts';
import { describeError } from './log.ts';
import { SettingGroupTitles, SidecarSettings, findSetting, flagOf, type Setting, type SettingGroup } from './settings.ts';

export const CommandName = 'edge-mqtt-sidecar';

/** Exit status of a command line that cannot be run (as getopt-style tools use it); invalid settings exit 1. */
export const UsageExitCode = 2;

/** A command line that cannot be run: one line, said before anything starts. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where a setting's value came from, for messages. */
export type SettingSource = { kind: 'flag'; flag: string } | { kind: 'environment' } | { kind: 'file'; path: string; line: number };

export type Invocation =
  | { action: 'help' }
  | { action: 'version' }
  | {
      action: 'run';
      /** What loadSidecarConfig reads: the environment with the file beneath it and the flags above it. */
      env: SidecarEnv;
      sources: ReadonlyMap<string, SettingSource>;
      /** Lines of the --config file that are not settings: reported with the invalid values. */
      fileProblems: readonly string[];
    };

const optionsConfig = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  config: { type: 'string' },
  ...Object.fromEntries(SidecarSettings.map((setting) => [flagOf(setting.name), { type: 'string' }])),
} satisfies ParseArgsConfig['options'];

/**
 * @example
 * const invocation = parseInvocation(['--tcp-port', '1884'], process.env);
 * if (invocation.action === 'run') loadSidecarConfig(invocation.env);
 */
export function parseInvocation(argv: readonly string[], env: SidecarEnv, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): Invocation {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: optionsConfig, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  if (values['help'] === true) return { action: 'help' };
  if (values['version'] === true) return { action: 'version' };

  const sources = new Map<string, SettingSource>();
  const merged: Record<string, string | undefined> = { ...env };
  for (const setting of SidecarSettings) if (isGiven(env[setting.name])) sources.set(setting.name, { kind: 'environment' });

  const configPath = values['config'];
  const fileProblems: string[] = [];
  if (typeof configPath === 'string') {
    let text: string;
    try {
      text = readFile(configPath);
    } catch (error) {
      throw new UsageError(`--config ${configPath} cannot be read: ${describeError(error)}`);
    }
    const file = parseEnvFile(text);
    for (const problem of file.problems) fileProblems.push(`${configPath} ${problem}`);
    for (const entry of file.entries) {
      const setting = findSetting(entry.name);
      if (setting === undefined) {
        fileProblems.push(`${configPath} line ${entry.line}: ${entry.name} is not a setting of the sidecar (see ${CommandName} --help)`);
        continue;
      }
      // Beneath the environment: a setting given there, under either of its names, stays as it is.
      if (isGiven(env[setting.name]) || (setting.alternative !== undefined && isGiven(env[setting.alternative]))) continue;
      merged[setting.name] = entry.value;
      sources.set(setting.name, { kind: 'file', path: configPath, line: entry.line });
    }
  }

  for (const setting of SidecarSettings) {
    const flag = flagOf(setting.name);
    const value = values[flag];
    if (typeof value !== 'string') continue;
    merged[setting.name] = value;
    sources.set(setting.name, { kind: 'flag', flag: `--${flag}` });
    // Above everything: the other name of the same setting, from the environment or the file, no longer counts.
    if (setting.alternative !== undefined) {
      delete merged[setting.alternative];
      sources.delete(setting.alternative);
    }
  }
  return { action: 'run', env: merged, sources, fileProblems };
}

/** config.ts treats an empty variable as unset; so does the order of sources. */
function isGiven(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '';
}

/** parseArgs' messages run to three lines and name options as `'-h, --help'`: one line of our own. */
function describeParseError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const option = quoted.split(/[ ,]+/).filter((part) => part.startsWith('-')).pop() ?? quoted;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${quoted}": settings are options (--name value)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('does not take an argument')) return `${option} takes no value`;
      // `--tcp-port --tcp-host x`, or a value that starts with a dash.
      return message.includes('ambiguous') ? `${option} needs a value (write one that starts with "-" as ${option}=-…)` : `${option} needs a value`;
    default:
      return message.split('\n')[0] ?? message;
  }
}

export function describeSource(source: SettingSource | undefined): string {
  if (source === undefined || source.kind === 'environment') return 'the environment';
  return source.kind === 'flag' ? source.flag : `${source.path} line ${source.line}`;
}

export interface ClassifiedIssues {
  /** Bad values given as flags: usage errors, one line each. */
  usage: string[];
  /** The rest, with where the value came from. */
  invalid: Array<{ error: string; from: string }>;
}

/** Splits config.ts's problems by where the value at fault came from. */
export function classifyIssues(issues: readonly SidecarConfigIssue[], sources: ReadonlyMap<string, SettingSource>): ClassifiedIssues {
  const result: ClassifiedIssues = { usage: [], invalid: [] };
  for (const issue of issues) {
    const source = sources.get(issue.variable);
    if (source?.kind === 'flag') result.usage.push(`${source.flag}: ${issue.problem}`);
    else result.invalid.push({ error: issue.problem, from: describeSource(source) });
  }
  return result;
}

/** The line a usage error is printed as. */
export function usageLine(message: string): string {
  return `${CommandName}: ${message} (see ${CommandName} --help)`;
}

const HelpWidth = 80;
const MeaningIndent = '        ';

/** `--help`: every option with its variable, its default and its meaning. */
export function helpText(): string {
  const lines = [
    `Usage: ${CommandName} [options]`,
    '',
    'Bridges MQTT devices on TCP and TLS into an edge-mqtt-broker Worker. Each',
    'setting is an option, an environment variable, or a NAME=value line of the',
    '--config file; an option overrides the environment, which overrides the file.',
    'Stops gracefully on SIGTERM, SIGINT or SIGHUP (a second one forces the exit).',
    '',
    '  -h, --help        print this help and exit',
    '      --version     print the version and exit',
    '      --config <file>',
    ...wrap('a file of settings: MQTT_X=value lines and # comments, the format of systemd EnvironmentFile= and docker --env-file; also a way to pass secrets that must not show in ps', MeaningIndent),
  ];
  const groups = new Map<SettingGroup, Setting[]>();
  for (const setting of SidecarSettings) groups.set(setting.group, [...(groups.get(setting.group) ?? []), setting]);
  for (const [group, settings] of groups) {
    lines.push('', `${SettingGroupTitles[group]}:`);
    for (const setting of settings) {
      lines.push(`  --${flagOf(setting.name)} ${setting.value}   ${setting.name}, default: ${setting.default ?? setting.whenUnset ?? 'none'}`);
      const secretNote = setting.secret === true ? ` (an option shows in ps: prefer --${flagOf(setting.alternative ?? setting.name)}, the environment or --config)` : '';
      lines.push(...wrap(`${setting.meaning}${secretNote}`, MeaningIndent));
    }
  }
  lines.push('', 'Reference: docs/sidecar.md in the edge-mqtt-broker repository.', '');
  return lines.join('\n');
}

function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > HelpWidth) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}
