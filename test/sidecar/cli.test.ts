/**
 * The command line (sidecar/cli.ts, run by sidecar/main.ts): one option per
 * setting the sidecar reads, `--help` built from the same table, flag over
 * environment over --config file, and exit codes 0 / 1 / 2 from the real
 * entry point.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { runScript, type ScriptExit } from '../helpers/run-script.ts';
import { classifyIssues, helpText, parseInvocation, UsageError, type Invocation } from '../../sidecar/cli.ts';
import { loadSidecarConfig, SidecarConfigError } from '../../sidecar/config.ts';
import { SidecarSettings, flagOf } from '../../sidecar/settings.ts';

type Run = Extract<Invocation, { action: 'run' }>;

function runInvocation(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): Run {
  const invocation = parseInvocation(argv, env, (path) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  });
  if (invocation.action !== 'run') throw new Error(`expected a run, got ${invocation.action}`);
  return invocation;
}

function usageMessage(argv: string[]): string {
  try {
    parseInvocation(argv, {});
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error('no usage error');
}

describe('the settings table', () => {
  it('holds exactly the MQTT_* variables config.ts reads, with the _FILE form of each secret', () => {
    const source = readFileSync(join(repoRoot, 'sidecar', 'config.ts'), 'utf8');
    const read = new Set([...source.matchAll(/'(MQTT_[A-Z_]+)'/g)].map((match) => match[1] as string));
    for (const match of source.matchAll(/\.secret\('(MQTT_[A-Z_]+)'\)/g)) read.add(`${match[1] as string}_FILE`);
    expect(SidecarSettings.map((setting) => setting.name).sort()).toEqual([...read].sort());
  });

  it('states the defaults loadSidecarConfig uses: setting one to its stated default changes nothing', () => {
    const defaults = loadSidecarConfig({});
    const withDefault = SidecarSettings.filter((setting) => setting.default !== undefined);
    expect(withDefault.length).toBeGreaterThan(10);
    for (const setting of withDefault) expect([setting.name, loadSidecarConfig({ [setting.name]: setting.default ?? '' })]).toEqual([setting.name, defaults]);
  });

  it('is the sidecar table of docs/configuration.md: a row per setting with its option and default', () => {
    const reference = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
    const rows = reference
      .slice(reference.indexOf('## The sidecar'))
      .split('\n')
      .filter((line) => line.startsWith('| `MQTT_'));
    expect(rows.map((row) => /^\| `(MQTT_[A-Z_]+)`/.exec(row)?.[1])).toEqual(SidecarSettings.map((setting) => setting.name));
    for (const [index, setting] of SidecarSettings.entries()) {
      const [, option, fallback] = (rows[index] ?? '').split(/\s+\|\s+/);
      expect(option?.replaceAll('\\|', '|'), setting.name).toBe(`\`--${flagOf(setting.name)} ${setting.value}\``);
      if (setting.default !== undefined) expect(fallback, setting.name).toBe(`\`${setting.default}\``);
    }
  });

  it('pairs each alternative both ways', () => {
    for (const setting of SidecarSettings.filter((candidate) => candidate.alternative !== undefined)) {
      expect(SidecarSettings.find((other) => other.name === setting.alternative)?.alternative).toBe(setting.name);
    }
  });
});

describe('--help', () => {
  it('lists every option with its variable, its default and its meaning', () => {
    const help = helpText();
    for (const setting of SidecarSettings) {
      const line = help.split('\n').find((text) => text.startsWith(`  --${flagOf(setting.name)} `));
      expect(line, setting.name).toBe(`  --${flagOf(setting.name)} ${setting.value}   ${setting.name}, default: ${setting.default ?? setting.whenUnset ?? 'none'}`);
      expect(help.replaceAll(/\n\s+/g, ' ')).toContain(setting.meaning);
    }
    expect(help).toContain('an option overrides the environment, which overrides the file');
    expect(Math.max(...help.split('\n').filter((line) => line.startsWith('        ')).map((line) => line.length))).toBeLessThanOrEqual(80);
  });

  it('is asked for with --help or -h, anywhere on the line; --version too', () => {
    expect(parseInvocation(['--tcp-port', '1', '-h'], {})).toEqual({ action: 'help' });
    expect(parseInvocation(['--help'], {})).toEqual({ action: 'help' });
    expect(parseInvocation(['--version'], {})).toEqual({ action: 'version' });
  });
});

describe('where settings come from', () => {
  const file = ['# site A', 'MQTT_TCP_PORT=1001', 'MQTT_TCP_HOST=10.0.0.1', 'MQTT_LOG_LEVEL=debug', 'MQTT_BRIDGE_SECRET_FILE=/run/secret'].join('\n');

  it('takes a flag over the environment over the --config file', () => {
    const run = runInvocation(['--config', '/etc/sidecar.env', '--tcp-port', '3003'], { MQTT_TCP_PORT: '2002', MQTT_TCP_HOST: '10.0.0.2', PATH: '/bin' }, { '/etc/sidecar.env': file });
    expect(run.env).toMatchObject({ MQTT_TCP_PORT: '3003', MQTT_TCP_HOST: '10.0.0.2', MQTT_LOG_LEVEL: 'debug', PATH: '/bin' });
    expect(Object.fromEntries(run.sources)).toEqual({
      MQTT_TCP_PORT: { kind: 'flag', flag: '--tcp-port' },
      MQTT_TCP_HOST: { kind: 'environment' },
      MQTT_LOG_LEVEL: { kind: 'file', path: '/etc/sidecar.env', line: 4 },
      MQTT_BRIDGE_SECRET_FILE: { kind: 'file', path: '/etc/sidecar.env', line: 5 },
    });
    expect(run.fileProblems).toEqual([]);
  });

  it('treats the two names of one setting as one: the stronger source wins whichever name it uses', () => {
    // The environment's value stands over the file's _FILE form...
    const fromEnv = runInvocation(['--config', 'f'], { MQTT_BRIDGE_SECRET: 'from-env' }, { f: file });
    expect(fromEnv.env['MQTT_BRIDGE_SECRET']).toBe('from-env');
    expect(fromEnv.env['MQTT_BRIDGE_SECRET_FILE']).toBeUndefined();
    // ...and a flag's _FILE form over the environment's value.
    const fromFlag = runInvocation(['--bridge-secret-file', '/run/other'], { MQTT_BRIDGE_SECRET: 'from-env' });
    expect(fromFlag.env['MQTT_BRIDGE_SECRET']).toBeUndefined();
    expect(fromFlag.env['MQTT_BRIDGE_SECRET_FILE']).toBe('/run/other');
  });

  it('lets an empty variable fall through to the file, as config.ts reads an empty variable as unset', () => {
    expect(runInvocation(['--config', 'f'], { MQTT_TCP_PORT: '' }, { f: file }).env['MQTT_TCP_PORT']).toBe('1001');
  });

  it('reports the lines of the file that are not settings, each with its line', () => {
    const run = runInvocation(['--config', 'f'], {}, { f: 'MQTT_TCP_PROT=1884\nNODE_OPTIONS=--inspect\nMQTT_TCP_PORT\nMQTT_LOG_LEVEL=warn' });
    expect(run.fileProblems).toEqual([
      'f line 3: expected NAME=value, found "MQTT_TCP_PORT"',
      'f line 1: MQTT_TCP_PROT is not a setting of the sidecar (see edge-mqtt-sidecar --help)',
      'f line 2: NODE_OPTIONS is not a setting of the sidecar (see edge-mqtt-sidecar --help)',
    ]);
    expect(run.env['MQTT_LOG_LEVEL']).toBe('warn');
  });

  it('says where a bad value came from, and makes a bad flag a usage error', () => {
    const run = runInvocation(['--config', 'f', '--tcp-port', 'eighty'], { MQTT_MAX_CONNECTIONS: '-1' }, { f: 'MQTT_LOG_LEVEL=loud' });
    let error: unknown;
    try {
      loadSidecarConfig(run.env);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(SidecarConfigError);
    expect(classifyIssues((error as SidecarConfigError).issues, run.sources)).toEqual({
      usage: ['--tcp-port: MQTT_TCP_PORT="eighty" must be an integer in 0..65535'],
      invalid: [
        { error: 'MQTT_MAX_CONNECTIONS="-1" must be an integer in 0..10000000', from: 'the environment' },
        { error: 'MQTT_LOG_LEVEL="loud" must be one of debug, info, warn, error, silent', from: 'f line 1' },
      ],
    });
  });
});

describe('a command line that cannot be run', () => {
  it.each([
    [['--tcp-prot', '1'], 'unknown option --tcp-prot'],
    [['-x'], 'unknown option -x'],
    [['--tcp-port'], '--tcp-port needs a value'],
    [['--tcp-port', '--tcp-host', 'h'], '--tcp-port needs a value (write one that starts with "-" as --tcp-port=-…)'],
    [['--help=yes'], '--help takes no value'],
    [['1883'], 'unexpected argument "1883": settings are options (--name value)'],
  ])('%j: %s', (argv, message) => {
    expect(usageMessage(argv)).toBe(message);
  });

  it('--config naming a file that cannot be read', () => {
    expect(() => runInvocation(['--config', '/nowhere.env'])).toThrow(new UsageError("--config /nowhere.env cannot be read: ENOENT: no such file or directory, open '/nowhere.env'"));
  });
});

// ── The entry point, as a process ──────────────────────────────────────────

const runMain = (args: string[], env: Record<string, string> = {}): Promise<ScriptExit> => runScript('sidecar/main.ts', args, env);

const held: net.Server[] = [];
afterAll(() => {
  for (const server of held) server.close();
});

describe('sidecar/main.ts', () => {
  it('--help prints the help on stdout and exits 0 without listening, even with settings it would refuse', async () => {
    const result = await runMain(['--help'], { MQTT_TCP_PORT: 'eighty' });
    expect(result).toEqual({ code: 0, stdout: helpText(), stderr: '' });
  });

  it('--version prints the package version', async () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(await runMain(['--version'])).toEqual({ code: 0, stdout: `${manifest.version}\n`, stderr: '' });
  });

  it('an unknown option and a bad value of a flag are one line each and exit code 2', async () => {
    expect(await runMain(['--tcp-prot', '1884'])).toEqual({ code: 2, stdout: '', stderr: 'edge-mqtt-sidecar: unknown option --tcp-prot (see edge-mqtt-sidecar --help)\n' });
    expect(await runMain(['--tcp-port', 'eighty'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'edge-mqtt-sidecar: --tcp-port: MQTT_TCP_PORT="eighty" must be an integer in 0..65535 (see edge-mqtt-sidecar --help)\n',
    });
  });

  it('a port in use is one line naming the setting and its flag, and exit code 1', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    held.push(server);
    const port = (server.address() as net.AddressInfo).port;
    const result = await runMain(['--tcp-host', '127.0.0.1', '--tcp-port', String(port), '--edge-link', 'off']);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'error', event: 'sidecar.start-failed', error: `port ${port} on 127.0.0.1 is in use: set MQTT_TCP_PORT (--tcp-port) to a free port` }),
    ]);
  });
});
