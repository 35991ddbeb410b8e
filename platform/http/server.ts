import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RequestListener, ServerResponse } from 'node:http';
import type { Logger } from '../logger/index.ts';

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port (see the returned url). */
  port: number;
  /** PEM files; with both set the server speaks HTTPS. */
  tls?: { certFile: string; keyFile: string } | undefined;
  /** How long close() waits for in-flight requests before cutting connections (default 10 s). */
  shutdownTimeoutMs?: number;
}

export interface RunningHttpServer {
  server: http.Server | https.Server;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Stops accepting, lets in-flight requests finish (bounded), then closes every connection. Idempotent. */
  close(): Promise<void>;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Listens with app on host:port, over HTTPS when tls is given. */
export async function startHttpServer(
  app: RequestListener,
  options: HttpServerOptions,
): Promise<RunningHttpServer> {
  const server = options.tls
    ? https.createServer(
        {
          cert: readPem(options.tls.certFile, 'certificate'),
          key: readPem(options.tls.keyFile, 'key'),
        },
        app,
      )
    : http.createServer(app);
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;

  // Track responses in flight, so that on close they are told "Connection: close".
  const inFlight = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;
  server.on('request', (_req, res: ServerResponse) => {
    inFlight.add(res);
    if (closing) res.setHeader('Connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (closing) server.closeIdleConnections();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${options.tls ? 'https' : 'http'}://${host}:${address.port}`;
  const timeoutMs = options.shutdownTimeoutMs ?? 10_000;

  const close = () => {
    closing ??= new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
      timer.unref();
      server.close((err) => {
        clearTimeout(timer);
        if (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') reject(err);
        else resolve();
      });
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      server.closeIdleConnections();
    });
    return closing;
  };

  return { server, url, close };
}

type ShutdownHandler = () => unknown;

const handlers: ShutdownHandler[] = [];
let shutdownLogger: Logger | undefined;
let shuttingDown: Promise<void> | undefined;
let installed = false;
let firstSignalAt = 0;
let repeatGraceMs = 0;

/**
 * A signal that comes again within `ms` of the first is that one passed on
 * (npm passes a terminal's Ctrl-C on to its script, which got it from the
 * terminal already): ignored, instead of being taken for a second Ctrl-C
 * that exits at once.
 */
export function ignoreRepeatedSignals(ms: number): void {
  repeatGraceMs = ms;
}

function onSignal(signal: NodeJS.Signals): void {
  if (shuttingDown) {
    if (Date.now() - firstSignalAt < repeatGraceMs) return;
    shutdownLogger?.warn('second signal during shutdown: exiting now', { signal });
    process.exit(1);
  }
  firstSignalAt = Date.now();
  void shutdown(signal).then(() => process.exit(process.exitCode ?? 0));
}

/**
 * Registers something to close on SIGTERM/SIGINT (a server's close(), a pool's end()).
 * On the first signal every handler runs once, last registered first (servers
 * before the clients they use), then the process exits; a second signal exits at once.
 * Returns a function that unregisters the handler.
 */
export function onShutdown(
  handler: ShutdownHandler,
  options: { logger?: Logger } = {},
): () => void {
  shutdownLogger ??= options.logger;
  handlers.push(handler);
  if (!installed) {
    installed = true;
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  return () => {
    const i = handlers.indexOf(handler);
    if (i >= 0) handlers.splice(i, 1);
  };
}

/** Runs every registered shutdown handler once (also what the signals do, minus the exit). */
export function shutdown(reason = 'shutdown'): Promise<void> {
  shuttingDown ??= (async () => {
    shutdownLogger?.info('shutting down', { reason, handlers: handlers.length });
    for (const handler of handlers.splice(0).reverse()) {
      try {
        await handler();
      } catch (err) {
        process.exitCode = 1;
        shutdownLogger?.error('shutdown handler failed', { err });
      }
    }
    shutdownLogger?.info('shut down', { reason });
  })();
  return shuttingDown;
}
