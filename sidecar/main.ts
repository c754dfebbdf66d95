#!/usr/bin/env node
/**
 * CLI entry, one code path for every way of running the sidecar: the npm
 * package's `edge-mqtt-sidecar` (this file compiled), `tsx sidecar/main.ts`
 * and `npm run sidecar -- <options>`. Settings come from options, MQTT_*
 * variables and a --config file (cli.ts); it then starts the sidecar and
 * shuts it down gracefully on SIGTERM, SIGINT or SIGHUP (or when its parent
 * exits), exiting 0 within MQTT_SHUTDOWN_GRACE_MS (plus a small margin). A
 * second signal exits at once.
 *
 * Exit codes: 0 stopped (or --help, --version); 1 invalid settings
 * (`config.invalid` lines), a failed start or a crash; 2 a command line that
 * cannot be run (one line on stderr).
 */
import { classifyIssues, helpText, parseInvocation, usageLine, UsageError, UsageExitCode, type Invocation } from './cli.ts';
import { loadSidecarConfig, SidecarConfigError, type SidecarConfig } from './config.ts';
import { ListenError } from './listen.ts';
import { createLogger, describeError, type Logger } from './log.ts';
import { stopOnSignals } from './lifecycle.ts';
import { startSidecar } from './server.ts';
import { settingLabel } from './settings.ts';
import { sidecarVersion } from './version.ts';

/** Time beyond the grace period for the last log lines and socket teardown. */
const EXIT_MARGIN_MS = 2_000;

/** Before the settings are read, problems are logged in the format asked for, if it can be told. */
function earlyLogger(env: Readonly<Record<string, string | undefined>>): Logger {
  return createLogger({ format: env['MQTT_LOG_FORMAT']?.trim().toLowerCase() === 'pretty' ? 'pretty' : 'json', level: 'error' });
}

function readInvocation(): Invocation | undefined {
  try {
    return parseInvocation(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${usageLine(error.message)}\n`);
    process.exitCode = UsageExitCode;
    return undefined;
  }
}

/** The settings, or undefined once every problem has been said and the exit code set. */
function readConfig(invocation: Extract<Invocation, { action: 'run' }>): SidecarConfig | undefined {
  let config: SidecarConfig | undefined;
  let issues: ReturnType<typeof classifyIssues> = { usage: [], invalid: [] };
  try {
    config = loadSidecarConfig(invocation.env);
  } catch (error) {
    if (error instanceof SidecarConfigError) issues = classifyIssues(error.issues, invocation.sources);
    else issues.invalid.push({ error: describeError(error), from: 'the environment' });
  }
  for (const line of issues.usage) process.stderr.write(`${usageLine(line)}\n`);
  const log = earlyLogger(invocation.env);
  for (const problem of invocation.fileProblems) log.error('config.invalid', { error: problem });
  for (const { error, from } of issues.invalid) log.error('config.invalid', { error, from });
  if (issues.usage.length > 0) process.exitCode = UsageExitCode;
  else if (issues.invalid.length > 0 || invocation.fileProblems.length > 0) process.exitCode = 1;
  else return config;
  return undefined;
}

async function run(config: SidecarConfig): Promise<void> {
  const log = createLogger(config.log);

  // A bug must still leave a structured line behind, not only a bare stack trace.
  process.on('uncaughtException', (error) => {
    log.error('sidecar.crashed', { error: describeError(error), stack: error.stack });
    process.exit(1);
  });

  const running = await startSidecar(config, { logger: log }).catch((error: unknown) => {
    // A port in use names the setting to change, in both of its forms.
    log.error('sidecar.start-failed', { error: error instanceof ListenError ? error.explain(settingLabel) : describeError(error) });
    return process.exit(1);
  });

  // SIGTERM, SIGINT and SIGHUP stop it gracefully, as does its parent going away; a second signal exits at once.
  stopOnSignals({
    log,
    graceMs: config.shutdownGraceMs + EXIT_MARGIN_MS,
    // The grace period is enforced inside close(); the bound above only guards against a bug there.
    stop: () => running.close(),
    force: () => undefined,
  });
}

const invocation = readInvocation();
if (invocation?.action === 'help') process.stdout.write(helpText());
else if (invocation?.action === 'version') process.stdout.write(`${sidecarVersion}\n`);
else if (invocation?.action === 'run') {
  const config = readConfig(invocation);
  if (config !== undefined) await run(config);
}
