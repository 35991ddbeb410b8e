// How a scrape reaches the metrics. A process run on its own (`streaming
// serve …`, one container per part) serves GET /metrics on
// STREAMING_METRICS_PORT. Under `npm start` the children do not listen:
// the supervisor serves that port and asks every child over its IPC channel
// for its metrics (getMetricsAsJSON), then merges them with prom-client's
// AggregatorRegistry. Each child's series carry its `process` label, so the
// merge keeps them apart: one scrape covers the system.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { AggregatorRegistry } from 'prom-client';
import { registry } from './registry.ts';

const REQUEST = 'streaming:metrics?';
const REPLY = 'streaming:metrics';
const CHILD_TIMEOUT_MS = 3_000;

type metric = Awaited<ReturnType<typeof registry.getMetricsAsJSON>>[number];

export const METRICS_CONTENT_TYPE = registry.contentType;

/** True when `authorization` is `Bearer <token>` (constant time). */
export function metricsTokenMatches(authorization: string | undefined, token: string): boolean {
  const given = Buffer.from(authorization ?? '');
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics with `text()` (and nothing else) on host:port. */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  text?: () => Promise<string>;
}): Promise<MetricsServer> {
  const text = options.text ?? (() => registry.metrics());
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    text().then(
      (body) => {
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${err}\n`);
      },
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** In a supervised child: answer the supervisor's metric requests on the IPC channel. */
export function answerMetricsOverIpc(): void {
  if (!process.send) return;
  process.on('message', (m: unknown) => {
    const req = m as { type?: unknown; id?: unknown } | null;
    if (req?.type !== REQUEST) return;
    void registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: REPLY, id: req.id, metrics }),
      () => process.send?.({ type: REPLY, id: req.id, metrics: [] }),
    );
  });
}

let nextId = 0;

function askChild(child: ChildProcess): Promise<metric[] | undefined> {
  if (!child.connected) return Promise.resolve(undefined);
  const id = ++nextId;
  return new Promise((resolve) => {
    const done = (value: metric[] | undefined) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(value);
    };
    const onMessage = (m: unknown) => {
      const reply = m as { type?: unknown; id?: unknown; metrics?: metric[] } | null;
      if (reply?.type === REPLY && reply.id === id) done(reply.metrics ?? []);
    };
    const timer = setTimeout(() => done(undefined), CHILD_TIMEOUT_MS);
    child.on('message', onMessage);
    try {
      child.send({ type: REQUEST, id }, (err) => {
        if (err) done(undefined);
      });
    } catch {
      done(undefined);
    }
  });
}

/** The supervisor's own metrics and every child's, merged into one exposition. */
export async function aggregatedMetrics(children: () => ChildProcess[]): Promise<string> {
  const parts = await Promise.all([
    registry.getMetricsAsJSON(),
    ...children().map((c) => askChild(c)),
  ]);
  const merged = AggregatorRegistry.aggregate(parts.filter((p): p is metric[] => p !== undefined));
  return merged.metrics();
}
