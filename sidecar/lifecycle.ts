/**
 * How a long-running process of this project ends (the sidecar, `npm
 * start`): SIGTERM, SIGINT and SIGHUP start a graceful stop, whoever sends
 * them (systemd, Docker, `kill`, a terminal's Ctrl-C or hang-up); a second
 * signal, or a stop that overruns its grace, forces the exit.
 *
 * A process whose parent goes away stops as if it had been told to: `npm
 * start` runs its script under `sh -c`, and Debian's /bin/sh (dash)
 * neither passes a signal on nor execs the command, so `kill <npm pid>`
 * ends npm and the shell and leaves the stack running with its ports. An
 * orphan is re-parented, so a changed parent pid is the tell.
 */
import { describeError, type Logger } from './log.ts';

export type StopReason = NodeJS.Signals | 'parent-exited';

export interface LifecycleOptions {
  /** The graceful stop. The process exits 0 once it resolves, 1 if it rejects. */
  stop(reason: StopReason): Promise<void>;
  /** The forced end: a second signal, or the stop overran `graceMs`. Kill what must not outlive the process; it exits next. */
  force(reason: string): void;
  /** Bound on the graceful stop. */
  graceMs: number;
  log: Logger;
  /** How often the parent pid is looked at (default 500 ms); 0 turns the watch off. */
  parentCheckMs?: number;
}

export const StopSignals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** Exit status of a forced end. */
const ForcedExitCode = 1;

/**
 * Installs the signal handlers and the parent watch. Handlers that others
 * (Miniflare) installed for these signals are removed first: they exit at
 * once, before anything is drained.
 */
export function stopOnSignals(options: LifecycleOptions): void {
  let stopping = false;
  const forceExit = (why: string): void => {
    try {
      options.force(why);
    } finally {
      process.exit(ForcedExitCode);
    }
  };
  const begin = (reason: StopReason): void => {
    // A terminal's Ctrl-C ends npm and its shell too: the parent going away then is no second request.
    if (stopping && reason === 'parent-exited') return;
    if (stopping) {
      options.log.warn('process.forced-exit', { reason });
      forceExit(`a second ${reason}`);
      return;
    }
    stopping = true;
    options.log.info('process.stopping', { reason, graceMs: options.graceMs });
    const overrun = setTimeout(() => {
      options.log.error('process.stop-overran', { graceMs: options.graceMs });
      forceExit('the stop overran its grace');
    }, options.graceMs);
    overrun.unref();
    options.stop(reason).then(
      () => process.exit(0),
      (error: unknown) => {
        options.log.error('process.stop-failed', { error: describeError(error) });
        forceExit('the stop failed');
      },
    );
  };
  for (const signal of StopSignals) {
    process.removeAllListeners(signal);
    process.on(signal, () => begin(signal));
  }
  const interval = options.parentCheckMs ?? 500;
  if (interval > 0) watchParent(interval, () => begin('parent-exited'));
}

/** Calls `gone` once when this process's parent has exited (it was re-parented). */
function watchParent(intervalMs: number, gone: () => void): void {
  const parent = process.ppid;
  // Started by init or a container runtime: nothing to watch.
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone();
  }, intervalMs);
  timer.unref();
}
