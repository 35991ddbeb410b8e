import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import express, {
  type ErrorRequestHandler,
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import cors from 'cors';
import helmet from 'helmet';
import type { Config } from '../config/index.ts';
import { AppError, toProblem, type ErrorCode } from '../errors/index.ts';
import { logContext, withLogContext, type Logger } from '../logger/index.ts';
import type { Redis } from 'ioredis';
import { readSharedPipeline, type PartReport, type Pipeline } from '../health/index.ts';
import {
  httpMetrics,
  metricsTokenMatches,
  noteErrorCode,
  registry,
  METRICS_CONTENT_TYPE,
} from '../metrics/index.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** From a sane `X-Request-Id` header, or a fresh UUID. Echoed in the response. */
    requestId: string;
    /** From `X-Correlation-Id`, defaulting to the request id. Echoed in the response. */
    correlationId: string;
    /** The exact bytes of a JSON body, for webhook signature checks. */
    rawBody?: Buffer;
  }
}

/** Each dependency's state: 'ok', or a short reason it is not. */
export type Readiness = () => Promise<Record<string, 'ok' | string>>;

/** The parts of the system and their state, for /healthz/pipeline. */
export type PipelineReport = () => Promise<(PartReport & { process?: string; pid?: number })[]>;

export interface HttpAppOptions {
  config: Pick<Config, 'http'> & Partial<Pick<Config, 'metrics'>>;
  logger: Logger;
  /** Service name, stamped on the access log. */
  name: string;
  readiness: Readiness;
  /** Serves /healthz/pipeline when given. */
  pipeline?: PipelineReport;
}

/**
 * The parts of this process against the event store's head (unknown while it
 * cannot be read), and those other processes publish to Redis under the
 * system's prefix (STREAMING_REDIS_PREFIX, where `streaming serve` publishes).
 */
export function pipelineReport(
  pipeline: Pipeline,
  eventStore: { headPosition(): Promise<number> },
  redis: Redis | undefined,
  prefix: string,
): PipelineReport {
  return async () => {
    const local = pipeline.report(await eventStore.headPosition().catch(() => undefined));
    const shared = redis ? await readSharedPipeline(redis, prefix).catch(() => []) : [];
    return [
      ...local.map((r) => ({ ...r, pid: process.pid })),
      ...shared.filter((r) => r.pid !== process.pid),
    ];
  };
}

const SANE_ID = /^[A-Za-z0-9._-]{1,128}$/;
const PROBES = new Set(['/healthz', '/readyz', '/healthz/pipeline']);
const loggers = new WeakMap<Express, Logger>();

function headerValue(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && SANE_ID.test(v) ? v : undefined;
}

function pathOf(req: Request): string {
  return req.originalUrl.split('?')[0] ?? '/';
}

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Maps body-parser failures to catalogue codes; anything else passes unchanged. */
function bodyError(err: unknown, limitBytes: number): unknown {
  const type = (err as { type?: unknown } | null)?.type;
  switch (type) {
    case 'entity.parse.failed': {
      // Only the position: the parser's text quotes the body, which may hold a code.
      const at = /position (\d+)/.exec((err as Error).message)?.[1];
      return new AppError(
        'MALFORMED_JSON',
        `The request body is not valid JSON${at === undefined ? '' : ` (error at position ${at})`}.`,
      );
    }
    case 'entity.too.large':
      return new AppError(
        'BODY_TOO_LARGE',
        `The request body is larger than the limit of ${limitBytes} bytes.`,
        { limitBytes },
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', `${(err as Error).message}; send UTF-8 JSON.`);
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new AppError('BAD_REQUEST', 'The request body was cut short or mis-sized.');
    default:
      return err;
  }
}

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  404: 'ROUTE_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Client errors raised by express itself (http-errors, e.g. a malformed %-escape in a path) keep their 4xx. */
function normalize(err: unknown): unknown {
  if (err instanceof AppError || !(err instanceof Error)) return err;
  const e = err as Error & { status?: unknown; statusCode?: unknown; expose?: unknown };
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  if (e.expose === true && typeof status === 'number' && status >= 400 && status < 500) {
    return new AppError(STATUS_CODES[status] ?? 'BAD_REQUEST');
  }
  return err;
}

/** A response that records the headers set on it and removed from it. */
class HeaderRecorder extends ServerResponse {
  readonly set: [string, string | number | readonly string[]][] = [];
  readonly removed: string[] = [];
  override setHeader(name: string, value: string | number | readonly string[]): this {
    this.set.push([name, value]);
    return super.setHeader(name, value);
  }
  override removeHeader(name: string): void {
    this.removed.push(name);
    super.removeHeader(name);
  }
}

type NodeMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/**
 * The headers a request-independent middleware (helmet with its defaults) sets,
 * recorded once on a response to a request of no connection and then set on
 * every response in one loop.
 */
function staticHeaders(middleware: NodeMiddleware): RequestHandler {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  const recorder = new HeaderRecorder(req);
  let called = false;
  middleware(req, recorder, (err?: unknown) => {
    if (err !== undefined) throw err instanceof Error ? err : new Error(String(err));
    called = true;
  });
  if (!called) throw new Error('staticHeaders: the middleware did not call next synchronously');
  const { set: headers, removed } = recorder;
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/** Step 4: the access log (nothing to do when neither level would be written). */
function accessLog(logger: Logger, name: string): RequestHandler {
  return (req, res, next) => {
    if (!logger.isLevelEnabled('debug') && !logger.isLevelEnabled('info')) return next();
    const start = performance.now();
    const { requestId, correlationId } = req;
    res.once('close', () => {
      const path = pathOf(req);
      const level = PROBES.has(path) ? 'debug' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const fields = {
        service: name,
        method: req.method,
        path,
        status: res.statusCode,
        ms: Math.round((performance.now() - start) * 10) / 10,
        requestId,
        correlationId,
        ...(res.writableFinished ? {} : { aborted: true }),
      };
      logger.log(level, 'request', fields);
    });
    next();
  };
}

/**
 * Step 5: CORS, only the configured origins; none when the list is empty
 * (cors itself does nothing unless the origin is allowed: skip it then).
 */
function corsFor(config: HttpAppOptions['config']): RequestHandler {
  // (cors itself does nothing unless the origin is allowed: skip it then)
  const origins = new Set(config.http.corsOrigins);
  // the web console is served by the query service: a page from the query
  // port of the very host this request was sent to may call this service
  const consoleOrigin = (req: Request, origin: string): boolean => {
    try {
      const o = new URL(origin);
      const host = req.headers.host ? new URL(`http://${req.headers.host}`).hostname : undefined;
      return o.hostname === host && o.port === String(config.http.queryPort);
    } catch {
      return false;
    }
  };
  const corsMiddleware = cors({
    origin: true, // reached only for an allowed origin (below)
    exposedHeaders: ['X-Request-Id', 'X-Correlation-Id', 'Retry-After', 'Location', 'ETag'],
    maxAge: 600,
  });
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined || !(origins.has(origin) || consoleOrigin(req, origin))) return next();
    corsMiddleware(req, res, next);
  };
}

/** Step 7: JSON bodies only. */
function jsonBodies(limitBytes: number): RequestHandler {
  const json = express.json({
    limit: limitBytes,
    strict: true,
    type: () => true, // the media type is checked just below
    verify: (req, _res, buf) => {
      (req as Request).rawBody = buf;
    },
  });
  return (req: Request, res: Response, next: NextFunction) => {
    if (!hasBody(req)) return next();
    if (!req.is(['application/json', 'application/*+json'])) {
      const got = req.headers['content-type'] ?? 'no Content-Type';
      return next(
        new AppError('UNSUPPORTED_MEDIA_TYPE', `Send the body as application/json (got ${got}).`),
      );
    }
    // Stream callbacks may run outside the request's async context: re-enter it.
    const ctx = logContext();
    json(req, res, (err?: unknown) =>
      withLogContext(ctx, () => next(err === undefined ? undefined : bodyError(err, limitBytes))),
    );
  };
}

/** Step 8: this process's metrics on the API port, only behind STREAMING_METRICS_TOKEN. */
function metricsRoute(app: Express, metricsToken: string | undefined): void {
  if (metricsToken !== undefined) {
    app.get('/metrics', async (req, res, next) => {
      if (!metricsTokenMatches(req.headers.authorization, metricsToken)) {
        return next(new AppError('UNAUTHENTICATED', 'Give Authorization: Bearer <metrics token>.'));
      }
      res.setHeader('Cache-Control', 'no-store');
      res.type(METRICS_CONTENT_TYPE).send(await registry.metrics());
    });
  }
}

/** Step 9: the probes. */
function probeRoutes(
  app: Express,
  readiness: HttpAppOptions['readiness'],
  pipeline: HttpAppOptions['pipeline'],
): void {
  app.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    let checks: Record<string, string>;
    try {
      checks = await readiness();
    } catch (err) {
      checks = { readiness: err instanceof Error ? err.message : String(err) };
    }
    const ready = Object.values(checks).every((state) => state === 'ok');
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'unavailable', checks });
  });
  if (pipeline) {
    // each processor and projection of this process: progressing, lagging, stalled or standby
    app.get('/healthz/pipeline', async (_req, res) => {
      const parts = await pipeline();
      const stalled = parts.some((p) => p.state === 'stalled');
      res.setHeader('Cache-Control', 'no-store');
      res.status(stalled ? 503 : 200).json({ status: stalled ? 'stalled' : 'ok', parts });
    });
  }
}

/**
 * An express app with the shared front half: request and correlation ids, log
 * context, access log, CORS, security headers, JSON bodies, /healthz and /readyz.
 * Mount routes, then call finishHttpApp(app).
 */
export function createHttpApp({
  config,
  logger,
  name,
  readiness,
  pipeline,
}: HttpAppOptions): Express {
  const app = express();
  loggers.set(app, logger);
  app.disable('x-powered-by');
  app.set('etag', false);
  // req.ip: the TCP peer, or the address that many trusted proxies in front saw.
  app.set('trust proxy', config.http.trustProxyHops > 0 ? config.http.trustProxyHops : false);

  // 1. request id, 2. correlation id
  app.use((req, res, next) => {
    req.requestId = headerValue(req, 'x-request-id') ?? randomUUID();
    req.correlationId = headerValue(req, 'x-correlation-id') ?? req.requestId;
    res.setHeader('X-Request-Id', req.requestId);
    res.setHeader('X-Correlation-Id', req.correlationId);
    next();
  });

  // 2b. request metrics (route pattern, method, status, error code)
  app.use(httpMetrics(name));

  // 3. log context for everything downstream
  app.use((req, _res, next) => {
    withLogContext({ requestId: req.requestId, correlationId: req.correlationId }, next);
  });

  // 4. access log
  app.use(accessLog(logger, name));

  // 5. CORS for the configured origins and the console
  app.use(corsFor(config));

  // 6. security headers: helmet's, which do not depend on the request, worked out once
  app.use(staticHeaders(helmet()));

  // 7. JSON bodies only
  app.use(jsonBodies(config.http.bodyLimitBytes));

  // 8. /metrics behind its token, 9. probes
  metricsRoute(app, config.metrics?.token);
  probeRoutes(app, readiness, pipeline);

  return app;
}

/** Adds the 404 for unknown routes and the one error renderer. Call after mounting routes. */
export function finishHttpApp(app: Express): Express {
  const logger = loggers.get(app);
  if (!logger) throw new Error('finishHttpApp: the app was not made by createHttpApp');

  const notFound: RequestHandler = (req, _res, next) => {
    next(new AppError('ROUTE_NOT_FOUND', `No route for ${req.method} ${pathOf(req)}.`));
  };

  let outageLoggedAt = 0;
  let outageRequests = 0;
  const renderError: ErrorRequestHandler = (raw: unknown, req, res, _next) => {
    const err = normalize(raw);
    const { status, body, headers } = toProblem(err, req.requestId ?? null);
    noteErrorCode(res, body.code);
    const fields = { method: req.method, path: pathOf(req), status, errorCode: body.code };
    if (body.code === 'DEPENDENCY_UNAVAILABLE') {
      // an outage fails many requests alike: one line per 10 s, with how many
      outageRequests++;
      const now = Date.now();
      if (now - outageLoggedAt >= 10_000) {
        logger.warn('requests refused: a dependency is unavailable', {
          ...fields,
          requests: outageRequests,
          err: err instanceof Error ? err.message : String(err),
        });
        outageLoggedAt = now;
        outageRequests = 0;
      }
    } else if (status >= 500) {
      logger.error('request failed', { ...fields, err: err instanceof Error ? err : String(err) });
    } else {
      logger.info('request rejected', { ...fields, errorMessage: body.message });
    }
    if (res.headersSent) {
      res.destroy(); // too late for a problem body: cut the response short rather than lie
      return;
    }
    res.status(status).set(headers).json(body);
  };

  app.use(notFound);
  app.use(renderError);
  return app;
}
