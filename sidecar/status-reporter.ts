/**
 * When the sidecar tells the edge about its broker bridges (a STATUS frame
 * on the link, docs/link-protocol.md). Each report is a WebSocket message
 * the edge is billed for and that may wake the namespace's object, so:
 * - at once when a link opens: the edge knows nothing of a new link;
 * - after a change of state (connected, connecting, backing off), within
 *   `stateGapMs` of the last report: a flapping bridge cannot flood the link;
 * - new message counts only within `countsGapMs`: a busy bridge sends a
 *   report every so often, an idle one none;
 * - never a report equal to the last one sent.
 */
import type { LinkStatus } from '../shared/link-status.ts';

export type StatusChange = 'state' | 'counts';

export interface StatusReporterOptions {
  /** The status now. */
  read(): LinkStatus;
  /** Sends it; false when it could not go (no link, or one too old for STATUS). */
  send(status: LinkStatus): boolean;
  stateGapMs?: number;
  countsGapMs?: number;
}

export class StatusReporter {
  readonly #options: Required<StatusReporterOptions>;
  #lastSent: string | undefined;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(options: StatusReporterOptions) {
    this.#options = { stateGapMs: 1_000, countsGapMs: 30_000, ...options };
  }

  /** A link opened: it gets the status at once, whatever was sent on the one before. */
  opened(): void {
    this.#lastSent = undefined;
    this.#report();
  }

  /** Something changed: a report is due within the gap of its kind. */
  changed(kind: StatusChange): void {
    const gap = kind === 'state' ? this.#options.stateGapMs : this.#options.countsGapMs;
    const at = Math.max(Date.now(), this.#lastSentAt + gap);
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#report(), at - Date.now());
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #report(): void {
    this.stop();
    const status = this.#options.read();
    const text = JSON.stringify(status);
    if (text === this.#lastSent) return;
    if (!this.#options.send(status)) return;
    this.#lastSent = text;
    this.#lastSentAt = Date.now();
  }
}
