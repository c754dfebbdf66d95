/**
 * SQLite for running the namespace core in-process, in Node: sql.js (SQLite
 * compiled to WebAssembly, no native build) behind the `SqlExecutor` slice
 * of Durable Object storage that the core uses. Same SQL engine, so the
 * queries, constraints and RETURNING clauses behave as on workerd.
 */
import initSqlJs, { type Database, type SqlJsStatic, type Statement } from 'sql.js';
import type { SqlExecutor } from '../../edge/core/session-store.ts';

let engine: Promise<SqlJsStatic> | undefined;

export interface TestDatabase extends SqlExecutor {
  close(): void;
}

/** A fresh in-memory database. */
export async function openTestDatabase(): Promise<TestDatabase> {
  engine ??= initSqlJs();
  const db = new (await engine).Database();
  return new SqlJsExecutor(db);
}

/** Statements that only read report no rows written, as on Durable Objects. */
const ReadOnly = /^\s*(SELECT|PRAGMA|WITH)\b/i;

class SqlJsExecutor implements TestDatabase {
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Database) {}

  exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[]; readonly rowsWritten: number } {
    let statement = this.statements.get(query);
    if (statement === undefined) {
      statement = this.db.prepare(query);
      this.statements.set(query, statement);
    }
    try {
      statement.bind(bindings.map(toSqlValue));
      const rows: Record<string, unknown>[] = [];
      while (statement.step()) rows.push(statement.getAsObject());
      const rowsWritten = ReadOnly.test(query) ? 0 : this.db.getRowsModified();
      // Like a Durable Object's cursor: its rows can be taken once.
      let taken = false;
      return {
        toArray: () => {
          if (taken) return [];
          taken = true;
          return rows;
        },
        rowsWritten,
      };
    } finally {
      statement.reset();
    }
  }

  close(): void {
    for (const statement of this.statements.values()) statement.free();
    this.statements.clear();
    this.db.close();
  }
}

function toSqlValue(value: unknown): number | string | Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`cannot bind ${typeof value} to SQLite`);
}
