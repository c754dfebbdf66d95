/**
 * One Durable Object has one alarm. Each part of the namespace that has
 * deadlines (connect timeouts and keep-alive, wills and session expiry,
 * `$SYS`, metrics, the stall watchdog) reports its next one and handles its
 * own when the alarm fires; this module asks for the alarm at the earliest.
 */

/** A part of the namespace with deadlines. */
export interface DeadlineSource {
  /** The earliest time (ms) this part needs the alarm, if any. Called when the alarm fires or the object wakes. */
  nextDeadline(now: number): number | undefined;
  /** The alarm fired: handle whatever is due (a part may be called when nothing of its is). */
  onAlarm(now: number): void;
}

/** Alarms that only reschedule come at most this often (see schedule). */
export const AlarmSpacingMs = 1000;

export class Deadlines {
  constructor(
    private readonly sources: readonly DeadlineSource[],
    private readonly now: () => number,
    private readonly requestAlarm: (at: number) => void,
  ) {}

  /** The alarm fired: every part handles what is due, then the next alarm is set. */
  alarm(): void {
    const now = this.now();
    for (const source of this.sources) source.onAlarm(now);
    this.schedule();
  }

  /**
   * Asks for the alarm at the earliest deadline of any part. Some parts scan
   * all their connections for it, so this runs only when the alarm fires or
   * the object wakes; in between, whoever creates a deadline asks for it
   * directly. Alarms are at least AlarmSpacingMs apart, so thousands of
   * keep-alive deadlines cost one scan a second, not one each.
   */
  schedule(): void {
    const now = this.now();
    let next: number | undefined;
    for (const source of this.sources) {
      const deadline = source.nextDeadline(now);
      if (deadline !== undefined && (next === undefined || deadline < next)) next = deadline;
    }
    if (next !== undefined) this.requestAlarm(Math.max(next, now + AlarmSpacingMs));
  }
}
