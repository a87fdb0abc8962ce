/**
 * Whether a WebSocket upgrade's `Origin` may connect. Browsers always send `Origin` on a
 * WebSocket, and cookies or an open agent page are no protection against a hostile page
 * opening a socket to a hub on the agent's own network; non-browser clients (softphones,
 * CRM back ends) send none and are allowed. The agent page's own origin (the `Host` the
 * request was made to) is always allowed; `allowed` adds others, `*` allows any.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  const from = parseOrigin(origin);
  if (!from) return false; // "null" (sandboxed frames, file://) and junk
  if (allowed.some((entry) => parseOrigin(entry)?.origin === from.origin)) return true;
  if (!host) return false;
  try {
    // Same host:port as the request: normalise Host with the origin's scheme so `example.com:80`
    // and `http://example.com` compare equal.
    return new URL(`${from.protocol}//${host}`).host === from.host;
  } catch {
    return false;
  }
}

function parseOrigin(value: string): URL | null {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}
