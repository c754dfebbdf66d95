/**
 * Structured logs: one JSON object per line on stderr
 * (`{"ts","level","event","component","namespace","client","remote",...}`), or a
 * readable one-line form with MQTT_LOG_FORMAT=pretty. Callers pass only
 * metadata: never a password or a payload. Connection events
 * (shared/connection-log.ts) carry the CONNECT's username, as the edge's do
 * (and as mosquitto logs it), and `null` for a field that does not apply.
 */

export type LogFormat = 'json' | 'pretty';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogValue = string | number | boolean | null | undefined;
export type LogFields = Readonly<Record<string, LogValue>>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. the client's id and address). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Where finished lines go; stderr by default (stdout stays free for tools). */
  write?: (line: string) => void;
  /** Clock for the `ts` field (tests). */
  now?: () => Date;
}

const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * @example
 * const log = createLogger({ format: 'json', level: 'info' });
 * log.child({ client: 'sensor-1', addr: '10.0.0.7:51234' }).info('client.connected', { level: 5 });
 */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => new Date());
  const render = options.format === 'pretty' ? renderPretty : renderJson;
  const threshold = severity[options.level];

  const build = (base: LogFields): Logger => {
    const emit = (level: Exclude<LogLevel, 'silent'>, event: string, fields?: LogFields): void => {
      if (severity[level] < threshold) return;
      write(render(now(), level, event, { ...base, ...fields }));
    };
    return {
      debug: (event, fields) => emit('debug', event, fields),
      info: (event, fields) => emit('info', event, fields),
      warn: (event, fields) => emit('warn', event, fields),
      error: (event, fields) => emit('error', event, fields),
      child: (fields) => build({ ...base, ...fields }),
    };
  };
  return build({});
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ format: 'json', level: 'silent', write: () => {} });

function renderJson(ts: Date, level: string, event: string, fields: LogFields): string {
  const line: Record<string, LogValue> = { ts: ts.toISOString(), level, event };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !(key in line)) line[key] = value;
  }
  return JSON.stringify(line);
}

/** One readable line: `time LEVEL event key=value ...` (also used by `npm start` for the edge's JSON lines). */
export function renderPretty(ts: Date, level: string, event: string, fields: LogFields): string {
  const parts = [ts.toISOString(), level.toUpperCase().padEnd(5), event];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const text = String(value);
    // Quote only what would otherwise be ambiguous, so the common case stays easy to read.
    parts.push(`${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`);
  }
  return parts.join(' ');
}

/** A short, single-line description of an unknown thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
