/** Calls the admin API of a test edge: JSON in, status and JSON out. */
export interface AdminAnswer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

export function adminClient(baseUrl: URL | string, token: string) {
  return async function admin(method: string, path: string, body?: unknown, options: { token?: string; rawBody?: string } = {}): Promise<AdminAnswer> {
    const headers: Record<string, string> = { Authorization: `Bearer ${options.token ?? token}` };
    let payload: string | undefined = options.rawBody;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const response = await fetch(new URL(path, baseUrl), { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not JSON: the test looks at `text`.
    }
    return { status: response.status, body: parsed, text };
  };
}
