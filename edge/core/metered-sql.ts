/**
 * Counts the SQLite rows an object reads and writes: Cloudflare bills
 * Durable Object storage by rows read and rows written, so these are the
 * numbers a cost projection needs (`objects` in the admin stats, `npm run
 * scale`). workerd's cursors count them (`rowsRead`, `rowsWritten`); a write
 * has run when exec returns, a read once its rows are taken.
 */
import type { SqlExecutor } from './session-store.ts';

type Cursor = ReturnType<SqlExecutor['exec']> & { readonly rowsRead?: number };

export class MeteredSql implements SqlExecutor {
  rowsRead = 0;
  rowsWritten = 0;

  constructor(private readonly sql: SqlExecutor) {}

  exec(query: string, ...bindings: unknown[]): ReturnType<SqlExecutor['exec']> {
    const cursor = this.sql.exec(query, ...bindings) as Cursor;
    const writtenAtExec = cursor.rowsWritten;
    this.rowsWritten += writtenAtExec;
    return {
      toArray: () => {
        const rows = cursor.toArray();
        this.rowsRead += cursor.rowsRead ?? 0;
        // A statement with RETURNING writes as its rows are taken.
        this.rowsWritten += cursor.rowsWritten - writtenAtExec;
        return rows;
      },
      get rowsWritten() {
        return cursor.rowsWritten;
      },
    };
  }
}
