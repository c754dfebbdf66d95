/**
 * Whether the core may have lost what it was sending to its gateways when
 * it stopped. A gateway's clients outlive the core (their sockets are the
 * gateway's), so a core that restarts after it answered a client but
 * before the answer reached the gateway (a PUBACK, a SUBACK, a message in
 * flight) leaves that client waiting for ever: nothing tells it to
 * reconnect, and MQTT resends only on a reconnect [MQTT-4.4.0-1]. A wake
 * from hibernation loses nothing (an object hibernates only when no call
 * is on its way); a reset, a crash or a deploy may.
 *
 * So a mark is written when output to gateways starts and removed once all
 * of it has arrived and none followed for a moment: two rows per burst of
 * output, none per message. A core that starts and finds the mark has its
 * gateways close the clients it restored, and they come back and resume
 * their sessions (GatewayLinks.restore).
 */
import type { SqlExecutor } from '../core/session-store.ts';

/** Output must have been quiet this long before the mark goes: a steady trickle costs no rows. */
export const QuietMs = 2_000;

const Schema = 'CREATE TABLE IF NOT EXISTS gateway_output (id INTEGER PRIMARY KEY CHECK (id = 1), since INTEGER NOT NULL)';

export class OutputMarker {
  /** Output to gateways not yet arrived. */
  private pending = 0;
  private marked: boolean;
  private readonly foundAtStart: boolean;
  /** When output last settled with none left on its way. */
  private quietSince = 0;
  /**
   * One timer at a time: output that settles thousands of times a second
   * (a client of a gateway flooding) would otherwise set a timer each time,
   * past the runtime's cap on active timeouts (10,000 per isolate).
   */
  private clearPending = false;

  constructor(
    private readonly sql: SqlExecutor,
    /** Whether the namespace has storage at all: before its first accepted CONNECT nothing is worth a row. */
    private readonly hasStorage: () => boolean,
    private readonly setTimer: (ms: number, callback: () => void) => void,
    private readonly now: () => number,
  ) {
    const exists = sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gateway_output'`).toArray().length > 0;
    this.foundAtStart = exists && sql.exec('SELECT 1 FROM gateway_output').toArray().length > 0;
    this.marked = this.foundAtStart;
  }

  /** The previous instance stopped with output to gateways that may not have arrived. */
  get lostOutput(): boolean {
    return this.foundAtStart;
  }

  /** Output to a gateway starts: marked before it leaves (the runtime sends nothing before the write is durable). */
  sending(): void {
    this.pending++;
    if (this.marked || !this.hasStorage()) return;
    this.sql.exec(Schema);
    this.sql.exec('INSERT OR REPLACE INTO gateway_output (id, since) VALUES (1, ?)', this.now());
    this.marked = true;
  }

  /** Some output arrived (or its call failed, and the gateway closed its clients). */
  settled(): void {
    this.pending--;
    if (this.pending > 0 || !this.marked) return;
    this.quietSince = this.now();
    this.clearWhenQuiet(QuietMs);
  }

  /** Removes the mark once output has been quiet for QuietMs since it last settled. */
  private clearWhenQuiet(ms: number): void {
    if (this.clearPending) return;
    this.clearPending = true;
    this.setTimer(ms, () => {
      this.clearPending = false;
      // Output on its way: its settling starts the wait again.
      if (this.pending > 0 || !this.marked) return;
      const quietFor = this.now() - this.quietSince;
      if (quietFor < QuietMs) {
        this.clearWhenQuiet(QuietMs - quietFor);
        return;
      }
      this.sql.exec('DELETE FROM gateway_output');
      this.marked = false;
    });
  }

  /** The restored clients were handed back to their gateways to reconnect: the old output no longer matters. */
  forget(): void {
    if (!this.foundAtStart || this.pending > 0) return;
    this.sql.exec('DELETE FROM gateway_output');
    this.marked = false;
  }
}
