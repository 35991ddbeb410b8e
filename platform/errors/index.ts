import { DomainError } from '../../domain/errors.ts';
import { errorCatalogue, type ErrorCode } from './catalogue.ts';
import { isOutageError } from '../health/errors.ts';

export { errorCatalogue, type ErrorCode } from './catalogue.ts';
export { DomainError } from '../../domain/errors.ts';

/** An error with a stable code from the catalogue. Throw it anywhere; the HTTP layer renders it. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  constructor(
    code: ErrorCode,
    message?: string,
    details?: Record<string, unknown>,
    headers?: Record<string, string>,
  ) {
    super(message ?? errorCatalogue[code].message);
    this.name = 'AppError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.details = details;
    this.headers = headers;
  }
}

export interface ProblemBody {
  code: string;
  message: string;
  requestId: string | null;
  details?: Record<string, unknown>;
}

function isCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalogue, code);
}

/** What a 503 DEPENDENCY_UNAVAILABLE tells the caller to wait before retrying. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 2;

/** Maps any thrown value to {status, body}; an outage of a dependency becomes
 * 503 DEPENDENCY_UNAVAILABLE with Retry-After; other unknown errors become
 * INTERNAL without leaking internals. */
export function toProblem(
  err: unknown,
  requestId: string | null,
): { status: number; body: ProblemBody; headers: Record<string, string> } {
  if (err instanceof AppError) {
    const body: ProblemBody = { code: err.code, message: err.message, requestId };
    if (err.details) body.details = err.details;
    const headers = { ...err.headers };
    if (err.code === 'DEPENDENCY_UNAVAILABLE' && headers['Retry-After'] === undefined) {
      headers['Retry-After'] = String(DEPENDENCY_RETRY_AFTER_SECONDS);
    }
    return { status: err.status, body, headers };
  }
  if (err instanceof DomainError) {
    const code = isCode(err.code) ? err.code : 'INTERNAL';
    const body: ProblemBody = { code: err.code, message: err.message, requestId };
    if (err.details) body.details = err.details;
    return { status: errorCatalogue[code].status, body, headers: {} };
  }
  // A server we depend on did not answer: the caller can retry, this is no bug of ours.
  if (isOutageError(err)) {
    return {
      status: 503,
      body: {
        code: 'DEPENDENCY_UNAVAILABLE',
        message: errorCatalogue.DEPENDENCY_UNAVAILABLE.message,
        requestId,
      },
      headers: { 'Retry-After': String(DEPENDENCY_RETRY_AFTER_SECONDS) },
    };
  }
  return {
    status: 500,
    body: { code: 'INTERNAL', message: errorCatalogue.INTERNAL.message, requestId },
    headers: {},
  };
}
