/** The two small pure pieces: log rendering and the keep-alive clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeepAliveMonitor } from '../../sidecar/keep-alive.ts';
import { createLogger, type LoggerOptions } from '../../sidecar/log.ts';

describe('createLogger', () => {
  const at = new Date('2026-01-02T03:04:05.678Z');
  function capture(options: Omit<LoggerOptions, 'write' | 'now'>): { lines: string[]; options: LoggerOptions } {
    const lines: string[] = [];
    return { lines, options: { ...options, write: (line) => lines.push(line), now: () => at } };
  }

  it('writes one JSON object per line, ts/level/event first, child fields included', () => {
    const { lines, options } = capture({ format: 'json', level: 'info' });
    const log = createLogger(options).child({ client: 'sensor-1', addr: '10.0.0.7:51234' });
    log.info('device.connected', { keepAlive: 60, skipped: undefined });
    expect(lines).toEqual(['{"ts":"2026-01-02T03:04:05.678Z","level":"info","event":"device.connected","client":"sensor-1","addr":"10.0.0.7:51234","keepAlive":60}']);
  });

  it('drops lines below the level, and everything when silent', () => {
    const { lines, options } = capture({ format: 'json', level: 'warn' });
    const log = createLogger(options);
    log.debug('a');
    log.info('b');
    log.warn('c');
    log.error('d');
    expect(lines.map((line) => (JSON.parse(line) as { event: string }).event)).toEqual(['c', 'd']);
    const silent = capture({ format: 'json', level: 'silent' });
    createLogger(silent.options).error('x');
    expect(silent.lines).toEqual([]);
  });

  it('has a readable one-line pretty form', () => {
    const { lines, options } = capture({ format: 'pretty', level: 'debug' });
    createLogger(options).warn('edge.unavailable', { client: '', addr: '127.0.0.1:5', error: 'connect ECONNREFUSED 127.0.0.1:1' });
    expect(lines).toEqual(['2026-01-02T03:04:05.678Z WARN  edge.unavailable client="" addr=127.0.0.1:5 error="connect ECONNREFUSED 127.0.0.1:1"']);
  });

  it('cannot be made to overwrite ts, level or event', () => {
    const { lines, options } = capture({ format: 'json', level: 'info' });
    createLogger(options).info('real', { event: 'fake', level: 'error' });
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ event: 'real', level: 'info' });
  });
});

describe('KeepAliveMonitor', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function monitor(): { expired: () => number; keepAlive: KeepAliveMonitor } {
    let count = 0;
    const keepAlive = new KeepAliveMonitor({ onExpired: () => count++, now: () => Date.now() });
    return { expired: () => count, keepAlive };
  }

  it('expires after 1.5 × keep-alive of silence [MQTT-3.1.2-24]', () => {
    const { expired, keepAlive } = monitor();
    keepAlive.start(10);
    vi.advanceTimersByTime(14_999);
    expect(expired()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(expired()).toBe(1);
    vi.advanceTimersByTime(60_000);
    expect(expired()).toBe(1);
  });

  it('is pushed back by every touch', () => {
    const { expired, keepAlive } = monitor();
    keepAlive.start(10);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(10_000);
      keepAlive.touch();
    }
    expect(expired()).toBe(0);
    vi.advanceTimersByTime(15_000);
    expect(expired()).toBe(1);
  });

  it('is disabled by keep-alive 0 and by stop()', () => {
    const { expired, keepAlive } = monitor();
    keepAlive.start(0);
    vi.advanceTimersByTime(1_000_000);
    keepAlive.start(1);
    keepAlive.stop();
    vi.advanceTimersByTime(1_000_000);
    expect(expired()).toBe(0);
  });

  it('does not run while suspended (the sidecar, not the device, stopped reading)', () => {
    const { expired, keepAlive } = monitor();
    keepAlive.start(1);
    keepAlive.suspend();
    vi.advanceTimersByTime(60_000);
    expect(expired()).toBe(0);
    keepAlive.resume();
    vi.advanceTimersByTime(1_499);
    expect(expired()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(expired()).toBe(1);
  });

  it('restarts with a new value (Server Keep Alive)', () => {
    const { expired, keepAlive } = monitor();
    keepAlive.start(600);
    keepAlive.start(2);
    vi.advanceTimersByTime(3_000);
    expect(expired()).toBe(1);
  });
});
