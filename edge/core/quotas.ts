/**
 * A namespace's quotas: limits it sets for itself at run time (admin API,
 * dashboard), kept in its SQLite, effective without a redeploy. What it does
 * not set is the deployment's default (the MQTT_* variables). The effective
 * limits are one object, changed in place, that every part of the namespace
 * reads at each use: a change holds from the next packet, or for a limit a
 * client was told at CONNECT, from its next connection (limit-settings.ts).
 */
import { assignLimit, checkLimitValue, limitSetting, limitSettings, type Applies, type LimitName, type LimitUnit, type LimitValue } from './limit-settings.ts';
import type { BrokerLimits } from './limits.ts';
import type { Logger } from './log.ts';
import type { SqlExecutor } from './session-store.ts';

const Schema = `CREATE TABLE IF NOT EXISTS quotas (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  set_at INTEGER NOT NULL
)`;

/** One limit as the namespace has it. */
export interface QuotaView {
  name: LimitName;
  /** The configuration variable that sets its default. */
  variable: string;
  label: string;
  unit: LimitUnit;
  /** In force now: the namespace's own value, or the default. */
  value: LimitValue;
  /** The deployment's value (MQTT_* variable, or built in). */
  default: LimitValue;
  /** Whether the namespace set its own. */
  set: boolean;
  /** When it was set (ms), if it was. */
  setAt?: number;
  kind: 'integer' | 'boolean';
  min: number;
  max: number;
  applies: Applies;
}

/** Changes to make: a value, or null to go back to the default. */
export type QuotaChanges = Record<string, unknown>;

export type QuotaOutcome = { ok: true; quotas: QuotaView[]; changed: LimitName[] } | { ok: false; error: string };

export class NamespaceQuotas {
  private readonly own = new Map<LimitName, { value: LimitValue; setAt: number }>();

  /**
   * @param defaults the deployment's limits (never changed here)
   * @param limits the namespace's effective limits, changed in place
   */
  constructor(
    private readonly sql: SqlExecutor,
    private readonly defaults: Readonly<BrokerLimits>,
    private readonly limits: BrokerLimits,
    private readonly log: Logger,
  ) {
    sql.exec(Schema);
    for (const row of sql.exec('SELECT name, value, set_at FROM quotas').toArray()) {
      const name = String(row['name']);
      const setting = limitSetting(name);
      const value = setting === undefined ? 'no such limit' : checkLimitValue(setting, parseStored(row['value']));
      if (setting === undefined || typeof value === 'string') {
        // Written by another version (a limit renamed or its range narrowed): the default holds.
        log.log('warn', 'quota_ignored', { name, value: String(row['value']), error: setting === undefined ? 'no such limit' : value });
        continue;
      }
      this.own.set(setting.name, { value, setAt: Number(row['set_at']) });
      assignLimit(limits, setting.name, value);
    }
  }

  view(): QuotaView[] {
    return limitSettings.map((setting) => {
      const own = this.own.get(setting.name);
      return {
        name: setting.name,
        variable: setting.variable,
        label: setting.label,
        unit: setting.unit,
        value: this.limits[setting.name],
        default: this.defaults[setting.name],
        set: own !== undefined,
        ...(own === undefined ? {} : { setAt: own.setAt }),
        kind: setting.kind,
        min: setting.min,
        max: setting.max,
        applies: setting.applies,
      };
    });
  }

  /** Sets (or, with null, clears) several at once: all or none, checked before anything is written. */
  set(changes: QuotaChanges, now: number): QuotaOutcome {
    const valid: Array<[LimitName, LimitValue | null]> = [];
    for (const [name, raw] of Object.entries(changes)) {
      const setting = limitSetting(name);
      if (setting === undefined) return { ok: false, error: `no limit named "${name}": one of ${limitSettings.map((s) => s.name).join(', ')}` };
      if (raw === null) {
        valid.push([setting.name, null]);
        continue;
      }
      const value = checkLimitValue(setting, raw);
      if (typeof value === 'string') return { ok: false, error: value };
      valid.push([setting.name, value]);
    }
    const changed: LimitName[] = [];
    for (const [name, value] of valid) {
      const before = this.limits[name];
      if (value === null) {
        if (!this.own.delete(name)) continue;
        this.sql.exec('DELETE FROM quotas WHERE name = ?', name);
        assignLimit(this.limits, name, this.defaults[name]);
      } else {
        if (this.own.get(name)?.value === value) continue;
        this.own.set(name, { value, setAt: now });
        this.sql.exec('INSERT INTO quotas (name, value, set_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_at = excluded.set_at', name, JSON.stringify(value), now);
        assignLimit(this.limits, name, value);
      }
      if (this.limits[name] !== before) changed.push(name);
    }
    if (changed.length > 0) this.log.log('info', 'quotas_changed', Object.fromEntries(changed.map((name) => [name, this.limits[name]])));
    return { ok: true, quotas: this.view(), changed };
  }
}

function parseStored(text: unknown): unknown {
  try {
    return JSON.parse(String(text));
  } catch {
    return text;
  }
}
