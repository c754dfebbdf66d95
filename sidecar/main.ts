/**
 * CLI entry: `tsx sidecar/main.ts`. Reads MQTT_* from the environment,
 * starts the sidecar, and shuts it down gracefully on SIGTERM, SIGINT or
 * SIGHUP (or when its parent exits), exiting 0 within
 * MQTT_SHUTDOWN_GRACE_MS (plus a small margin). A second signal exits at once.
 */
import { loadSidecarConfig, SidecarConfigError, type SidecarConfig } from './config.ts';
import { createLogger, describeError } from './log.ts';
import { stopOnSignals } from './lifecycle.ts';
import { startSidecar } from './server.ts';

/** Time beyond the grace period for the last log lines and socket teardown. */
const EXIT_MARGIN_MS = 2_000;

function readConfig(): SidecarConfig {
  try {
    return loadSidecarConfig(process.env);
  } catch (error) {
    const problems = error instanceof SidecarConfigError ? error.problems : [describeError(error)];
    const log = createLogger({ format: process.env['MQTT_LOG_FORMAT'] === 'pretty' ? 'pretty' : 'json', level: 'error' });
    for (const problem of problems) log.error('config.invalid', { error: problem });
    process.exit(1);
  }
}

const config = readConfig();
const log = createLogger(config.log);

// A bug must still leave a structured line behind, not only a bare stack trace.
process.on('uncaughtException', (error) => {
  log.error('sidecar.crashed', { error: describeError(error), stack: error.stack });
  process.exit(1);
});

const running = await startSidecar(config, { logger: log }).catch((error: unknown) => {
  log.error('sidecar.start-failed', { error: describeError(error) });
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
