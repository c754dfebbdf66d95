/**
 * Reading an HTTP request body within a size limit.
 *
 * A body over the limit is still read to its end (and thrown away) when it
 * is at most `RefusedBodyDrainBytes`: answering 413 while the client is still
 * sending makes the runtime reset the connection, and the client then sees
 * ECONNRESET instead of the answer that says what was wrong. Larger bodies
 * are cut off at once; that work stays bounded.
 */
import { concatBytes } from '../shared/codec/framer.ts';

export const RefusedBodyDrainBytes = 1024 * 1024;

/** The body's bytes, or undefined when it is larger than `limit`. */
export async function readLimited(request: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get('Content-Length') ?? '0');
  if (Number.isFinite(declared) && declared > Math.max(limit, RefusedBodyDrainBytes)) return undefined;
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return total > limit ? undefined : concatBytes(parts, total);
    total += value.byteLength;
    if (total > Math.max(limit, RefusedBodyDrainBytes)) {
      await reader.cancel();
      return undefined;
    }
    if (total <= limit) parts.push(value);
  }
}

/**
 * Reads and drops what is left of a body that the answer did not need (a
 * 401, 404 or 405 sent before reading it), up to the drain allowance: answered
 * unread, the runtime resets the connection, and a client that reuses it for
 * its next request gets ECONNRESET there.
 */
export async function discardUnreadBody(request: Request): Promise<void> {
  if (request.body === null || request.bodyUsed || request.body.locked) return;
  try {
    await readLimited(request, 0);
  } catch {
    // The client went away: there is no connection left to keep usable.
  }
}
