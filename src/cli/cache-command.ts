import { request } from 'undici';
import { loadConfig } from '../config/load-config.js';
import { CallpopError, describeError } from '../model/errors.js';

/** `callpop cache clear [NUMBER]`: asks the running daemon (its hub address) to drop cached lookups. */
export async function runCacheClear(file: string, number: string | undefined, out: (line: string) => void = console.log): Promise<number> {
  const config = await loadConfig(file);
  const admin = config.hub.tokens.find((t) => t.admin);
  if (!admin) {
    throw new CallpopError('CALLPOP_CONFIG_INVALID', `${config.file}: hub.tokens: no token has admin: true, which cache clear needs`);
  }
  const host = config.hub.host === '0.0.0.0' || config.hub.host === '::' ? '127.0.0.1' : config.hub.host;
  const url = new URL(`http://${host.includes(':') ? `[${host}]` : host}:${config.hub.port}/api/cache/clear`);
  if (number) url.searchParams.set('number', number);
  try {
    const res = await request(url, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` }, headersTimeout: 5000, bodyTimeout: 5000 });
    const body = await res.body.text();
    if (res.statusCode !== 200) {
      out(`cache clear failed: HTTP ${res.statusCode} ${body}`);
      return 1;
    }
    out(number ? `cleared cached lookups for ${number}` : 'cleared all cached lookups');
    return 0;
  } catch (err) {
    throw new CallpopError('CALLPOP_CONNECTOR_FAILED', `cannot reach the daemon at ${url.origin}: ${describeError(err)} (is callpop running with this config?)`);
  }
}
