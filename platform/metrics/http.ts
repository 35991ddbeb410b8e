// HTTP request metrics. Labels stay bounded: the route is the pattern that
// matched (`/v1/messages/:id`), never the raw path; an unmatched request is
// `unmatched`; the error code comes from the stable catalogue.
import { performance } from 'node:perf_hooks';
import type { Request, RequestHandler, Response } from 'express';
import { counter, histogram, LATENCY_BUCKETS } from './registry.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const requests = counter({
  name: 'streaming_http_requests_total',
  help: 'HTTP requests answered, by service, method, route pattern, status and error code',
  labelNames: ['service', 'method', 'route', 'status', 'code'] as const,
});
const duration = histogram({
  name: 'streaming_http_request_duration_seconds',
  help: 'HTTP request latency until the response was written, by service, method and route pattern',
  labelNames: ['service', 'method', 'route'] as const,
  buckets: LATENCY_BUCKETS,
});

/** The route pattern a request matched, or `unmatched`. */
export function routeOf(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof pattern !== 'string') return 'unmatched';
  return `${req.baseUrl}${pattern}`;
}

/** Where the error renderer leaves the problem code for the metrics. */
export function noteErrorCode(res: Response, code: string): void {
  (res.locals as { errorCode?: string }).errorCode = code;
}

export function httpMetrics(service: string): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    // the route is known once a handler ran: note it while req still says so
    let route = 'unmatched';
    res.once('finish', () => (route = routeOf(req)));
    res.once('close', () => {
      if (route === 'unmatched') route = routeOf(req);
      const method = METHODS.has(req.method) ? req.method : 'OTHER';
      const code = (res.locals as { errorCode?: string }).errorCode ?? '';
      requests.inc({ service, method, route, status: String(res.statusCode), code });
      duration.observe({ service, method, route }, (performance.now() - start) / 1000);
    });
    next();
  };
}
