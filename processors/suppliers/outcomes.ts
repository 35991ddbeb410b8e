import { TransportError } from './httpTransport.ts';
import type { SendOutcome } from './types.ts';

/**
 * A failed exchange: nothing written (refused, DNS, socket error, deadline
 * before the body left) is transient; anything after the request was written
 * (timeout, reset, cut response) is unknown.
 */
export function transportOutcome(err: unknown, latencyMs: number): SendOutcome {
  if (err instanceof TransportError) {
    if (err.sent) return { kind: 'unknown', code: err.code, message: err.message, latencyMs };
    return { kind: 'transient', code: err.code, message: err.message, latencyMs };
  }
  // A bug of ours before or while building the request: nothing was sent.
  return {
    kind: 'transient',
    code: 'CLIENT_ERROR',
    message: 'request could not be made',
    latencyMs,
  };
}
