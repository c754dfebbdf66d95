// The admin API as the page uses it: the token from sign-in goes in the
// Authorization header only (never in a URL, where logs would keep it) and
// lives in this tab's sessionStorage.

const TokenKey = 'edge-mqtt-broker.admin-token';

export const session = {
  token: sessionStorage.getItem(TokenKey) || '',
  ns: 'default',
  /** Called when the API refuses the token (set by main.js). */
  onUnauthorized: (_message) => {},
};

export function keepToken(token) {
  session.token = token;
  sessionStorage.setItem(TokenKey, token);
}

export function forgetToken() {
  session.token = '';
  sessionStorage.removeItem(TokenKey);
}

/** An error the API answered with; `status` is the HTTP status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(status + ': ' + message);
    this.status = status;
  }
}

/**
 * Calls `/admin/<ns><path>` (or `options.absolute`). Resolves with the JSON
 * answer; rejects with ApiError. With `optional`, a 404 resolves with null:
 * routes another part of the broker may not have (rules, users, ACL).
 * With `quiet401`, a refused token does not sign out (the namespace list
 * takes the global token only).
 */
export async function api(path, options = {}) {
  const url = options.absolute || '/admin/' + encodeURIComponent(session.ns) + path;
  const headers = { Authorization: 'Bearer ' + session.token, Accept: 'application/json' };
  /** @type {RequestInit} */
  const init = { method: options.method || 'GET', headers, cache: 'no-store' };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401 && !options.quiet401) {
    session.onUnauthorized((data && data.error) || 'The token was refused.');
    throw new ApiError(401, 'unauthorized');
  }
  if (response.status === 404 && options.optional) return null;
  if (!response.ok) {
    // JSON errors from the API; plain text from the Worker (e.g. a configuration error).
    throw new ApiError(response.status, (data && data.error) || text.trim().slice(0, 300) || response.statusText);
  }
  return data;
}

export function isUnauthorized(error) {
  return error instanceof ApiError && error.status === 401;
}
