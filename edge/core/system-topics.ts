/**
 * When the `$SYS` tree is published: every interval, from the alarm, and
 * only while a connected client subscribes to a `$SYS` filter. Offline
 * sessions would drop the QoS 0 messages anyway, and an alarm firing for
 * nobody would keep an idle namespace awake. What is published is the
 * publisher's business (observability/sys-topics.ts).
 */
import type { DeadlineSource } from './deadlines.ts';
import type { CoreStats } from './readouts.ts';

/** What a `$SYS` publisher reads and writes. */
export interface SystemTopicsSource {
  stats(): CoreStats;
  /** Publishes a broker-made message: retained, no publisher. */
  publishSystem(topic: string, payload: string): void;
}

export interface SystemTopicsPublisher {
  intervalMs: number;
  publish(source: SystemTopicsSource, now: number): void;
}

export class SystemTopicsSchedule implements DeadlineSource {
  private next: number | undefined;

  constructor(
    private readonly publisher: SystemTopicsPublisher | undefined,
    private readonly source: SystemTopicsSource,
    private readonly hasOnlineSubscriber: () => boolean,
    private readonly now: () => number,
    private readonly requestAlarm: (at: number) => void,
  ) {}

  /** A connected client subscribes to `$SYS`: publish now, then on the interval (unless already running). */
  start(): void {
    if (this.publisher === undefined || this.next !== undefined) return;
    this.next = this.now();
    this.requestAlarm(this.next);
  }

  nextDeadline(): number | undefined {
    return this.next;
  }

  onAlarm(now: number): void {
    if (this.publisher === undefined || this.next === undefined || this.next > now) return;
    if (this.hasOnlineSubscriber()) {
      this.publisher.publish(this.source, now);
      this.next = now + this.publisher.intervalMs;
    } else {
      this.next = undefined;
    }
  }
}
