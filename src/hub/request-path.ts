/**
 * The path of a request target (`/ws?x=1` -> `/ws`), or null when it is not a path at all.
 * The request line comes from anyone who can reach the port: `new URL()` throws on targets
 * such as `//[` or `//a:b:c`, and an exception in an `upgrade` listener ends the process.
 */
export function requestPath(target: string | undefined): string | null {
  if (!target || target[0] !== '/') return null;
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

/** The query parameters of a request target (empty when it has none or cannot be read). */
export function requestQuery(target: string | undefined): URLSearchParams {
  const at = target?.indexOf('?') ?? -1;
  if (!target || at === -1) return new URLSearchParams();
  const hash = target.indexOf('#', at);
  return new URLSearchParams(target.slice(at + 1, hash === -1 ? undefined : hash));
}
