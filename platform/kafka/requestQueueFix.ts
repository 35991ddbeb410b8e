// kafkajs 2.2.4 keeps every broker connection's request queue on a 1 ms
// timer forever once it has queued one request: checkPendingRequests always
// reschedules itself, and with no throttle the delay is negative, which Node
// turns into 1 ms (and, on Node 24, a TimeoutNegativeWarning). Each idle
// process of `npm start` woke ~830 times a second for it, most of its idle
// CPU (bench/system.ts). Reported upstream as tulios/kafkajs#1556 and #1704,
// fixed in PRs #1667/#1768 that were never released: this applies the same
// change — schedule a check only when requests are pending or a throttle is
// running — to the installed class, once, before any client is made. It also
// looks for timed-out requests every second rather than every 100 ms (see
// requestTimeoutCheckMs).
import { createRequire } from 'node:module';

interface InflightLike {
  sentAt: number;
  requestTimeout: number;
  timeoutRequest(): void;
}

interface RequestQueueLike {
  pending: unknown[];
  inflight: Map<number, InflightLike>;
  requestTimeout: number;
  enforceRequestTimeout: boolean;
  requestTimeoutIntervalId?: NodeJS.Timeout;
  isConnected(): boolean;
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
  scheduleRequestTimeoutCheck(): void;
  destroy(): void;
}

/**
 * How often a connection looks for requests past their timeout: a tenth of
 * the timeout, between 100 ms and 1 s. kafkajs looks every 100 ms on every
 * connection for as long as it is open (ten wakeups a second per broker
 * connection, idle or not); our clients' timeouts are 30 s and more (a fetch
 * adds its wait), so a timed-out request is failed at most 1 s later than
 * before, which is within a thirtieth of its timeout.
 */
export function requestTimeoutCheckMs(requestTimeout: number): number {
  return Math.min(1_000, Math.max(100, Math.floor(requestTimeout / 10)));
}

/** How long a throttled or busy queue waits before it looks again (kafkajs' own value). */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

const require = createRequire(import.meta.url);

/** The kafkajs RequestQueue class (internal: kafkajs has no exports map). */
export function kafkaRequestQueueClass(): {
  prototype: RequestQueueLike;
  new (options: Record<string, unknown>): RequestQueueLike;
} {
  return require('kafkajs/src/network/requestQueue/index.js');
}

let applied = false;

export function fixKafkaRequestQueue(): void {
  if (applied) return;
  applied = true;
  const proto = kafkaRequestQueueClass().prototype;
  // kafkajs' own body, with a coarser interval (see requestTimeoutCheckMs)
  proto.scheduleRequestTimeoutCheck = function scheduleRequestTimeoutCheck(this: RequestQueueLike) {
    if (!this.enforceRequestTimeout) return;
    this.destroy();
    this.requestTimeoutIntervalId = setInterval(() => {
      this.inflight.forEach((request) => {
        if (Date.now() - request.sentAt > request.requestTimeout) request.timeoutRequest();
      });
      if (!this.isConnected()) this.destroy();
    }, requestTimeoutCheckMs(this.requestTimeout));
  };
  proto.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(
    this: RequestQueueLike,
  ) {
    if (this.throttleCheckTimeoutId) return;
    let scheduleAt = this.throttledUntil - Date.now();
    if (this.pending.length > 0) {
      scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL;
    } else if (scheduleAt <= 0) {
      // nothing waits and nothing throttles: the next push() or response looks again
      return;
    }
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, scheduleAt);
  };
}
