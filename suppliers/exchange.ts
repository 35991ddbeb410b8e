// What a vendor SDK's errors do not say: whether our request was written to
// the socket, and the HTTP status of an answer it failed to parse. That
// difference decides between a safe retry (transient) and a reconcile
// (unknown), so each SDK call runs in an async context that Node's
// `http.client.request.start` diagnostics channel reports its requests to.
// Also the whole-call deadline: the SDKs' own timers cover connect and read
// separately, which can add up to more than the account's timeoutMs.
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { histogram, LATENCY_BUCKETS } from '../platform/metrics/index.ts';

const vendorCalls = histogram({
  name: 'streaming_vendor_call_duration_seconds',
  help: 'Supplier API calls, by account, API and outcome (ok, error, timeout)',
  labelNames: ['account', 'api', 'outcome'] as const,
  buckets: LATENCY_BUCKETS,
});

interface Exchange {
  requests: ClientRequest[];
  sent: boolean;
  status: number | undefined;
  networkCode: string | undefined;
}

export interface ExchangeFailure {
  ok: false;
  error: unknown;
  /** The whole request was handed to the socket, or an answer began. */
  sent: boolean;
  /** Status line of an answer, if one arrived. */
  status: number | undefined;
  /** Our deadline ended the call. */
  timedOut: boolean;
  /**
   * The socket or DNS error code of a failed request (ECONNREFUSED, ENOTFOUND, …),
   * for SDKs that wrap it into an error carrying only its message.
   */
  networkCode: string | undefined;
}

export type ExchangeResult<T> = { ok: true; value: T } | ExchangeFailure;

const current = new AsyncLocalStorage<Exchange>();

diagnosticsChannel.subscribe('http.client.request.start', (message) => {
  const exchange = current.getStore();
  if (!exchange) return;
  const request = (message as { request: ClientRequest }).request;
  exchange.requests.push(request);
  request.once('finish', () => {
    exchange.sent = true;
  });
  request.once('response', (res: IncomingMessage) => {
    exchange.sent = true;
    exchange.status = res.statusCode;
  });
  request.once('error', (err) => {
    exchange.networkCode ??= networkErrorCode(err);
  });
});

/** Run one SDK call under a deadline, never rejecting. */
export function observeExchange<T>(
  timeoutMs: number,
  call: () => Promise<T>,
  /** For the vendor call latency metric. */
  labels?: { account: string; api: string },
): Promise<ExchangeResult<T>> {
  const start = performance.now();
  const exchange: Exchange = {
    requests: [],
    sent: false,
    status: undefined,
    networkCode: undefined,
  };
  return new Promise<ExchangeResult<T>>((resolve) => {
    let settled = false;
    const finish = (result: ExchangeResult<T>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (labels) {
        const outcome = result.ok ? 'ok' : result.timedOut ? 'timeout' : 'error';
        vendorCalls.observe({ ...labels, outcome }, (performance.now() - start) / 1000);
      }
      resolve(result);
    };
    const fail = (error: unknown, timedOut: boolean): ExchangeFailure => ({
      ok: false,
      error,
      sent: exchange.sent,
      status: exchange.status,
      timedOut,
      networkCode: exchange.networkCode,
    });
    const timer = setTimeout(() => {
      finish(fail(undefined, true));
      for (const r of exchange.requests) r.destroy();
    }, timeoutMs);
    current.run(exchange, () => {
      let promise: Promise<T>;
      try {
        promise = call();
      } catch (err) {
        finish(fail(err, false));
        return;
      }
      promise.then(
        (value) => finish({ ok: true, value }),
        (err: unknown) => finish(fail(err, false)),
      );
    });
  });
}

/** A Node socket or DNS error code (ECONNREFUSED, ENOTFOUND, EAI_AGAIN, ECONNRESET, …). */
export function networkErrorCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object' || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : undefined;
}
