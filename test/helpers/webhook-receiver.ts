/**
 * A local HTTP receiver for rule targets: records every request, and can
 * answer 200, answer 503, never answer, or be closed (connection refused)
 * and opened again on the same port; `statusFor` answers chosen requests
 * (by their body) with a status of their own.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** How it was answered. */
  status: number | 'hung';
}

export type ReceiverMode = 'ok' | 'fail' | 'hang';

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  mode: ReceiverMode = 'ok';
  /** A status for this request instead of the mode's (undefined: the mode decides). */
  statusFor: (body: string) => number | undefined = () => undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly hung: ServerResponse[] = [];
  private waiters: Array<() => void> = [];

  private constructor(public port: number) {}

  static async start(mode: ReceiverMode = 'ok'): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(0);
    receiver.mode = mode;
    await receiver.open();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Bodies of the requests answered 200, parsed. */
  accepted<T = Record<string, unknown>>(): T[] {
    return this.requests.filter((request) => request.status === 200).map((request) => JSON.parse(request.body) as T);
  }

  /** Resolves once `predicate` holds for the requests so far (checked on every request). */
  async waitFor(predicate: (requests: ReceivedRequest[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (predicate(this.requests)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; ${this.requests.length} requests so far`)), timeoutMs);
      const check = (): void => {
        if (predicate(this.requests)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  /** Listens (again) on its port; the first time on a free one. */
  async open(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = this.statusFor(body) ?? (this.mode === 'ok' ? 200 : this.mode === 'fail' ? 503 : 'hung');
        this.requests.push({ path: request.url ?? '', headers: request.headers, body, status });
        if (status === 'hung') this.hung.push(response);
        else response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'unavailable');
        for (const waiter of this.waiters.splice(0)) waiter();
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /** Stops listening and cuts every connection (hung requests included): the receiver is down. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    for (const socket of this.sockets) socket.destroy();
    this.hung.length = 0;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Checks an `X-Mqtt-Signature: sha256=<hex>` header against the raw body. */
export function signatureValid(secret: string, body: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
