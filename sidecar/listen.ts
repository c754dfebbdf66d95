/**
 * Listening on a configured address. A failure is a ListenError that knows
 * which settings chose the address, so that a port in use is reported as
 * the setting to change (`port 1883 on 0.0.0.0 is in use: set
 * MQTT_TCP_PORT ...`), not as a stack trace from inside `net`.
 */
import type net from 'node:net';
import { describeError } from './log.ts';

export interface ListenTarget {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The settings that chose host and port (`MQTT_TCP_HOST`, `MQTT_TCP_PORT`). */
  hostSetting: string;
  portSetting: string;
}

export class ListenError extends Error {
  readonly target: ListenTarget;
  /** EADDRINUSE, EACCES, EADDRNOTAVAIL, ENOTFOUND, ... */
  readonly code: string | undefined;

  constructor(target: ListenTarget, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(explainListenFailure(target, code, cause, (setting) => setting), { cause });
    this.name = 'ListenError';
    this.target = target;
    this.code = code;
  }

  /** The message with each setting named by `label` (the CLI adds the flag: `MQTT_TCP_PORT (--tcp-port)`). */
  explain(label: (setting: string) => string): string {
    return explainListenFailure(this.target, this.code, this.cause, label);
  }
}

function explainListenFailure(target: ListenTarget, code: string | undefined, cause: unknown, label: (setting: string) => string): string {
  const where = `port ${target.port} on ${target.host}`;
  switch (code) {
    case 'EADDRINUSE':
      return `${where} is in use: set ${label(target.portSetting)} to a free port`;
    case 'EACCES':
      return `${where} needs privileges (a port below 1024): set ${label(target.portSetting)} to 1024 or above, or grant CAP_NET_BIND_SERVICE`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return `${target.host} is not an address of this machine: set ${label(target.hostSetting)} to one of its addresses, or 0.0.0.0 for all`;
    default:
      return `cannot listen on ${where} (${label(target.hostSetting)}, ${label(target.portSetting)}): ${describeError(cause)}`;
  }
}

/** Listens and resolves with the port (the real one when `target.port` is 0). */
export function listen(server: net.Server, target: ListenTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(new ListenError(target, error));
    server.once('error', onError);
    server.listen(target.port, target.host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : target.port);
    });
  });
}
