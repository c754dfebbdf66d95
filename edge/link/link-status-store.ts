/**
 * What each sidecar last reported in a STATUS frame of its link (its broker
 * bridges, shared/link-status.ts), kept so that the admin API still has it
 * after the object hibernated: one row per link, written only when the
 * report changed (a sidecar sends one on a change, a few a minute at most),
 * removed with the link. The link's attachment (2 KiB) could not hold many
 * bridges.
 */
import type { LinkStatus } from '../../shared/link-status.ts';
import type { SqlExecutor } from '../core/session-store.ts';

const Schema = `CREATE TABLE IF NOT EXISTS link_status (
  link_id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  received_at INTEGER NOT NULL)`;

/** A report and when the edge received it (ms since the epoch). */
export interface ReceivedStatus {
  status: LinkStatus;
  receivedAt: number;
}

export class LinkStatusStore {
  private ready: boolean;
  /** The report last written per link, to skip writes that change nothing. */
  private readonly written = new Map<string, string>();

  constructor(private readonly sql: SqlExecutor) {
    this.ready = sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'link_status'`).toArray().length > 0;
  }

  save(linkId: string, status: LinkStatus, receivedAt: number): void {
    const text = JSON.stringify(status);
    if (this.written.get(linkId) === text) return;
    if (!this.ready) {
      this.sql.exec(Schema);
      this.ready = true;
    }
    this.sql.exec('INSERT OR REPLACE INTO link_status (link_id, status, received_at) VALUES (?, ?, ?)', linkId, text, receivedAt);
    this.written.set(linkId, text);
  }

  load(linkId: string): ReceivedStatus | undefined {
    if (!this.ready) return undefined;
    const row = this.sql.exec('SELECT status, received_at FROM link_status WHERE link_id = ?', linkId).toArray()[0];
    if (row === undefined) return undefined;
    this.written.set(linkId, row['status'] as string);
    return { status: JSON.parse(row['status'] as string) as LinkStatus, receivedAt: row['received_at'] as number };
  }

  forget(linkId: string): void {
    if (!this.ready) return;
    this.written.delete(linkId);
    this.sql.exec('DELETE FROM link_status WHERE link_id = ?', linkId);
  }

  /** Forgets the reports of links that no longer exist (lost with a restart of the object). */
  forgetLinksExcept(live: ReadonlySet<string>): void {
    if (!this.ready) return;
    for (const row of this.sql.exec('SELECT link_id FROM link_status').toArray()) {
      const linkId = row['link_id'] as string;
      if (!live.has(linkId)) this.forget(linkId);
    }
  }
}
