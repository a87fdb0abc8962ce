import { sendJson, type HttpRoute } from '../hub/hub-server.js';
import { requestPath, requestQuery } from '../hub/request-path.js';
import type { Logger } from '../model/logger.js';
import type { PbxStatus } from '../pbx/pbx-adapter.js';
import type { Metrics } from './metrics.js';

/** What /healthz reports, read when asked. */
export interface HealthSources {
  pbx(): PbxStatus[];
  trackedLegs(): number;
  connections(): number;
  outbox(): number;
}

/** `GET /healthz`: 200 when every PBX is connected, else 503, with the figures an admin checks first. */
export function healthRoute(sources: HealthSources): HttpRoute {
  return (req, res) => {
    if (req.method !== 'GET' || requestPath(req.url) !== '/healthz') return false;
    const pbx = sources.pbx();
    const ok = pbx.every((p) => p.state === 'connected');
    sendJson(res, ok ? 200 : 503, { ok, pbx, calls: sources.trackedLegs(), connections: sources.connections(), outbox: sources.outbox() });
    return true;
  };
}

/** `GET /metrics`: the Prometheus text format. */
export function metricsRoute(metrics: Metrics): HttpRoute {
  return async (req, res) => {
    if (req.method !== 'GET' || requestPath(req.url) !== '/metrics') return false;
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(text);
    return true;
  };
}

/** `POST /api/cache/clear[?number=...]` with an admin token: explicit cache invalidation. */
export function cacheClearRoute(invalidate: (number?: string) => void, logger: Logger): HttpRoute {
  return (req, res, auth) => {
    if (requestPath(req.url) !== '/api/cache/clear') return false;
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use POST' });
      return true;
    }
    const token = auth.fromHeader(req.headers.authorization);
    if (!token?.admin) {
      sendJson(res, 401, { error: 'an admin token is required (hub.tokens[].admin: true), sent as Authorization: Bearer <token>' });
      return true;
    }
    const number = requestQuery(req.url).get('number') ?? undefined;
    invalidate(number);
    logger.info({ number: number ?? '(all)' }, 'lookup cache cleared');
    sendJson(res, 200, { cleared: number ?? 'all' });
    return true;
  };
}
