import { describe, expect, it } from 'vitest';
import { readLimited, RefusedBodyDrainBytes } from '../../../edge/request-body.ts';

/** A request whose body arrives in `chunks` of `chunkBytes`, recording how far it was read and whether it was cancelled. */
function streamedRequest(chunks: number, chunkBytes: number, contentLength?: number) {
  const seen = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulled === chunks) return controller.close();
      seen.pulled++;
      controller.enqueue(new Uint8Array(chunkBytes).fill(seen.pulled));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  const headers = contentLength === undefined ? {} : { 'Content-Length': String(contentLength) };
  const request = new Request('http://broker.test/x', { method: 'POST', body, headers, duplex: 'half' } as RequestInit);
  return { request, seen };
}

describe('readLimited', () => {
  it('returns a body within the limit whole', async () => {
    const { request } = streamedRequest(3, 1000);
    const bytes = await readLimited(request, 4096);
    expect(bytes?.byteLength).toBe(3000);
    expect(bytes?.[2999]).toBe(3);
  });

  it('reads a refused body to its end, so the client can finish sending and read the 413', async () => {
    const { request, seen } = streamedRequest(20, 1000);
    expect(await readLimited(request, 4096)).toBeUndefined();
    expect(seen).toEqual({ pulled: 20, cancelled: false });
  });

  it('cuts off a body larger than the drain allowance at once', async () => {
    const chunk = 64 * 1024;
    const { request, seen } = streamedRequest(100, chunk);
    expect(await readLimited(request, 4096)).toBeUndefined();
    expect(seen.cancelled).toBe(true);
    expect(seen.pulled * chunk).toBeLessThanOrEqual(RefusedBodyDrainBytes + 2 * chunk);
  });

  it('refuses a declared length over the allowance without reading', async () => {
    const { request, seen } = streamedRequest(1, 10, 50 * 1024 * 1024);
    expect(await readLimited(request, 4096)).toBeUndefined();
    expect(seen.pulled).toBeLessThanOrEqual(1);
  });
});
