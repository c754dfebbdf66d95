/**
 * The stall watchdog (issue 12): a connected client with queued messages
 * and room in its in-flight window should never wait. Clients become
 * suspects when their window opens while messages wait (an acknowledgement
 * came) or when a message is queued although the window had room; a suspect
 * still in that state after StallAfterMs is reported once (warning, counter,
 * admin view) and its queue is sent, so a bug costs seconds, not a silent
 * subscriber. Nobody is watched while every window is full or every queue
 * empty, so it costs no alarms then.
 */
import type { Logger } from './log.ts';
import type { BrokerMetrics } from './metrics.ts';

/** How often suspects are looked at, and how long a free window with a queue counts as a stall. */
export const StallCheckMs = 2500;
export const StallAfterMs = 5000;

/** What the watchdog needs to know of one client's window. */
export interface WindowState {
  queued: number;
  inflight: number;
  window: number;
}

export interface StallWatchdogDeps {
  now(): number;
  requestAlarm(at: number): void;
  log: Logger;
  metrics: BrokerMetrics;
  /** The window of a connected client; undefined when it is not connected. */
  inspect(clientId: string): WindowState | undefined;
  /** Sends what the client's window has room for. */
  recover(clientId: string): void;
}

export class StallWatchdog {
  private readonly suspects = new Map<string, { stalledSince?: number; reported?: boolean }>();
  private nextCheck: number | undefined;

  constructor(private readonly deps: StallWatchdogDeps) {}

  /** Asks the watchdog to look at a client soon. */
  suspect(clientId: string): void {
    if (!this.suspects.has(clientId)) this.suspects.set(clientId, {});
    if (this.nextCheck !== undefined) return;
    this.nextCheck = this.deps.now() + StallCheckMs;
    this.deps.requestAlarm(this.nextCheck);
  }

  nextDeadline(): number | undefined {
    return this.nextCheck;
  }

  onAlarm(now: number): void {
    if (this.nextCheck === undefined || this.nextCheck > now) return;
    this.nextCheck = undefined;
    for (const [clientId, suspect] of this.suspects) {
      const state = this.deps.inspect(clientId);
      // Gone, nothing queued, or waiting for acknowledgements: no stall (the next acknowledgement brings it back).
      if (state === undefined || state.queued === 0 || state.inflight >= state.window) {
        this.suspects.delete(clientId);
        continue;
      }
      suspect.stalledSince ??= now;
      if (now - suspect.stalledSince < StallAfterMs || suspect.reported === true) continue;
      suspect.reported = true;
      this.deps.metrics.add('stallsDetected');
      this.deps.log.log('warn', 'stall_detected', { client: clientId, queued: state.queued, inflight: state.inflight, receive_maximum: state.window, stalled_ms: now - suspect.stalledSince });
      this.deps.recover(clientId);
    }
    if (this.suspects.size > 0) this.nextCheck = now + StallCheckMs;
  }

  /** When the client was first seen stalled; undefined while it is not. */
  stalledSince(clientId: string): number | undefined {
    return this.suspects.get(clientId)?.stalledSince;
  }

  /** Connected clients seen stalled now (for the admin view and metrics). */
  stalledCount(): number {
    let count = 0;
    for (const suspect of this.suspects.values()) if (suspect.stalledSince !== undefined) count++;
    return count;
  }
}
