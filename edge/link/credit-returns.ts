/**
 * The credit the edge owes the sender of a link (docs/link-protocol.md,
 * version 3): DATA bytes the namespace core has finished processing, per
 * channel and for the link, to be returned in CREDIT frames.
 *
 * Returned in batches, not per packet: whatever is owed goes with the
 * next message the link sends anyway (the answers to what was processed),
 * and a message of its own is due once a channel is owed a quarter of its
 * window (the link a quarter of its own). So a busy sender never waits for
 * a frame per packet, and never waits for ever: a sender out of credit has
 * a window's worth in processing, and is owed a quarter of it when that is
 * done.
 *
 * A sidecar's link also gets what a channel is owed once the channel has
 * nothing left in processing (`returnWhenIdle`): an idle object then owes
 * nothing, since what it owed would be forgotten when it hibernates and the
 * sidecar's window would shrink for good. A gateway's credit is made whole
 * instead when the core probes it after a wake (gateway-links.ts), and its
 * calls are billed, so it is not sent a message for credit alone.
 */
import { LinkCreditChannel } from '../../shared/link-protocol.ts';
import type { LinkWindows } from './flow-control.ts';

export class CreditReturns {
  /** Bytes processed and not yet returned, per channel. */
  private readonly owed = new Map<number, number>();
  private linkOwed = 0;
  /** DATA frames of each channel still in processing. */
  private readonly inProcess = new Map<number, number>();
  private due = false;
  private idleDue = false;

  constructor(
    readonly windows: LinkWindows,
    /** Credit became due: the owner sends a message with take() now ('now'), or soon, with what it sends anyway ('idle'). */
    private readonly onDue: (when: 'now' | 'idle') => void,
    private readonly returnWhenIdle: boolean,
  ) {}

  /** DATA of `bytes` for `channel` is in processing until `processed` settles (however it does). */
  track(channel: number, bytes: number, processed: Promise<unknown>): void {
    this.inProcess.set(channel, (this.inProcess.get(channel) ?? 0) + 1);
    const settle = (): void => this.processed(channel, bytes);
    processed.then(settle, settle);
  }

  /** DATA that will never be processed (its channel is gone here): the link gets it back at once. */
  dropped(bytes: number): void {
    this.linkOwed += bytes;
    this.markDue();
  }

  /** The channel ended: nothing more is returned for it (the sender forgot it); the link still gets its part. */
  forget(channel: number): void {
    this.owed.delete(channel);
  }

  /** Everything owed, to send with the message going now; undefined when nothing is. */
  take(): Array<{ channel: number; bytes: number }> | undefined {
    this.due = false;
    this.idleDue = false;
    const grants = [...this.owed].map(([channel, bytes]) => ({ channel, bytes }));
    this.owed.clear();
    if (this.linkOwed > 0) grants.push({ channel: LinkCreditChannel, bytes: this.linkOwed });
    this.linkOwed = 0;
    return grants.length === 0 ? undefined : grants;
  }

  private processed(channel: number, bytes: number): void {
    const left = (this.inProcess.get(channel) ?? 1) - 1;
    if (left === 0) this.inProcess.delete(channel);
    else this.inProcess.set(channel, left);
    this.linkOwed += bytes;
    const owed = (this.owed.get(channel) ?? 0) + bytes;
    this.owed.set(channel, owed);
    if (owed >= this.windows.channel / 4 || this.linkOwed >= this.windows.link / 4) this.markDue();
    else if (left === 0 && this.returnWhenIdle && !this.due && !this.idleDue) {
      this.idleDue = true;
      this.onDue('idle');
    }
  }

  private markDue(): void {
    if (this.due) return;
    this.due = true;
    this.onDue('now');
  }
}
