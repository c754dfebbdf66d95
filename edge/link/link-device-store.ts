/**
 * Where the connection state of a device on a sidecar's link lives: a
 * link is one WebSocket for many devices, and its attachment (2 KiB) cannot
 * hold them all, so each connected device's state is a row in SQLite. Only
 * connected devices are written (a device still sending its CONNECT keeps
 * the object awake with its connect timer, and must not cost storage), and
 * a row only when the state really changed.
 */
import type { ConnectionState } from '../core/link.ts';
import type { SqlExecutor } from '../core/session-store.ts';

const Schema = `CREATE TABLE IF NOT EXISTS link_devices (
  link_id TEXT NOT NULL,
  channel INTEGER NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (link_id, channel))`;

export class LinkDeviceStore {
  private ready: boolean;
  /** The last state written per link and channel, to skip writes that change nothing. */
  private readonly written = new Map<string, string>();

  constructor(private readonly sql: SqlExecutor) {
    this.ready = sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'link_devices'`).toArray().length > 0;
  }

  save(linkId: string, channel: number, state: ConnectionState): void {
    if (state.phase !== 'connected') return;
    const key = `${linkId}:${channel}`;
    const text = JSON.stringify(state);
    if (this.written.get(key) === text) return;
    if (!this.ready) {
      this.sql.exec(Schema);
      this.ready = true;
    }
    this.sql.exec('INSERT OR REPLACE INTO link_devices (link_id, channel, state) VALUES (?, ?, ?)', linkId, channel, text);
    this.written.set(key, text);
  }

  delete(linkId: string, channel: number): void {
    // Only rows that were written (here, or before a wake and loaded since) can exist.
    if (!this.written.delete(`${linkId}:${channel}`)) return;
    this.sql.exec('DELETE FROM link_devices WHERE link_id = ? AND channel = ?', linkId, channel);
  }

  /** The devices of a link, after a wake. */
  load(linkId: string): Array<{ channel: number; state: ConnectionState }> {
    if (!this.ready) return [];
    const rows = this.sql.exec('SELECT channel, state FROM link_devices WHERE link_id = ?', linkId).toArray();
    return rows.map((row) => {
      const state = JSON.parse(row['state'] as string) as ConnectionState;
      this.written.set(`${linkId}:${row['channel'] as number}`, row['state'] as string);
      return { channel: row['channel'] as number, state };
    });
  }

  /** The links that have devices stored, with a given id prefix. */
  linkIds(prefix: string): string[] {
    if (!this.ready) return [];
    return this.sql
      .exec('SELECT DISTINCT link_id FROM link_devices')
      .toArray()
      .map((row) => row['link_id'] as string)
      .filter((id) => id.startsWith(prefix));
  }

  /** Forgets every device of links that no longer exist (closed, or lost with a restart of the object). */
  forgetLinksExcept(live: ReadonlySet<string>): void {
    if (!this.ready) return;
    for (const row of this.sql.exec('SELECT DISTINCT link_id FROM link_devices').toArray()) {
      const linkId = row['link_id'] as string;
      if (!live.has(linkId)) this.forgetLink(linkId);
    }
  }

  forgetLink(linkId: string): void {
    for (const key of [...this.written.keys()]) if (key.startsWith(`${linkId}:`)) this.written.delete(key);
    if (this.ready) this.sql.exec('DELETE FROM link_devices WHERE link_id = ?', linkId);
  }
}
