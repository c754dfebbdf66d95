/** A small JSON request body, read with a size limit (the admin API's users and ACL routes). */
import { readLimited } from '../request-body.ts';

export type JsonBody = { ok: true; value: unknown } | { ok: false; status: 400 | 413; error: string };

/**
 * Reads at most `limit` bytes and parses them as JSON. Over the limit:
 * 413, without buffering the rest; empty or not JSON: 400 naming the problem.
 */
export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  const bytes = await readLimited(request, limit);
  if (bytes === undefined) return { ok: false, status: 413, error: `the body is larger than ${limit} bytes` };
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === '') return { ok: false, status: 400, error: 'a JSON body is needed' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, status: 400, error: `the body is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}
