/** Structured logging: one JSON object per line, never a password or payload. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

export function consoleLogger(base: LogFields, minimum: LogLevel = 'info'): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, event, fields) {
      if (order[level] < order[minimum]) return;
      // The record's own fields come last, so no field can overwrite them.
      const line = JSON.stringify({ ...base, ...fields, ts: new Date().toISOString(), level, event });
      if (level === 'error') console.error(line);
      else if (level === 'warn') console.warn(line);
      else console.log(line);
    },
  };
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
