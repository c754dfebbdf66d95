/**
 * SQLite that stays untouched until the namespace has something to keep.
 *
 * A Durable Object exists as soon as a request names it, so a namespace
 * that writes its schema on first contact lets anyone who can open a
 * WebSocket create storage. Until the first row is inserted (an accepted
 * CONNECT), this executor writes nothing: schema statements are held back,
 * reads see empty tables, updates and deletes have nothing to change. The
 * first INSERT creates the schema, then runs. An existing namespace (its
 * tables are there) passes every statement straight through.
 */
import type { SqlExecutor } from './session-store.ts';

const Reads = /^\s*(SELECT|WITH|PRAGMA)\b/i;
const Changes = /^\s*(UPDATE|DELETE)\b/i;
const Schema = /^\s*CREATE\b/i;
const Migrations = /^\s*(ALTER|DROP)\b/i;
const Empty = { toArray: (): Record<string, unknown>[] => [], rowsWritten: 0 };

export class GatedSql implements SqlExecutor {
  private heldSchema: string[] = [];
  private materialized: boolean;

  /**
   * @param marker a table that exists exactly when the namespace has storage
   * @param onMaterialized called once, when the first write creates the storage
   */
  constructor(
    private readonly sql: SqlExecutor,
    marker: string,
    private readonly onMaterialized?: () => void,
  ) {
    this.materialized = sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, marker).toArray().length > 0;
  }

  /** Whether the namespace has storage (it accepted a CONNECT at some point). */
  get isMaterialized(): boolean {
    return this.materialized;
  }

  exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[]; readonly rowsWritten: number } {
    if (this.materialized) return this.sql.exec(query, ...bindings);
    if (Reads.test(query) || Changes.test(query)) return Empty;
    if (Schema.test(query)) {
      this.heldSchema.push(query);
      return Empty;
    }
    // A fresh schema already has every column a migration would add, and none of the tables one would drop.
    if (Migrations.test(query)) return Empty;
    this.materialize();
    return this.sql.exec(query, ...bindings);
  }

  private materialize(): void {
    for (const statement of this.heldSchema) this.sql.exec(statement);
    this.heldSchema = [];
    this.materialized = true;
    this.onMaterialized?.();
  }
}
