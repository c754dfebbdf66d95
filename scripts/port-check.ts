/**
 * Whether the ports a process is about to listen on are free, so that a
 * taken one is reported as one line naming the setting to change, not as a
 * stack trace from deep inside a library (Miniflare's even suggests a
 * `--port` flag `npm start` does not have).
 */
import { createServer } from 'node:net';

export interface PortClaim {
  /** The setting that chooses the port. */
  variable: string;
  host: string;
  /** 0 (any free port) is never in use. */
  port: number;
}

/** The claims whose port cannot be bound now (EADDRINUSE); other errors are left to the real listener. */
export async function portsInUse(claims: readonly PortClaim[]): Promise<PortClaim[]> {
  const taken: PortClaim[] = [];
  for (const claim of claims) if (claim.port !== 0 && (await isInUse(claim.host, claim.port))) taken.push(claim);
  return taken;
}

function isInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(false)));
  });
}
