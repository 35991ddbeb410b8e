// Errors as gRPC statuses. Every thrown value goes through the HTTP API's
// toProblem (so both APIs agree on the stable code, message and details), and
// its HTTP status picks the gRPC code. The stable code travels in a
// google.rpc.ErrorInfo (reason = code, domain = "streaming"); limits and
// outages add a google.rpc.RetryInfo from the same Retry-After.
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { toProblem } from '../platform/errors/index.ts';
import { statusDetails } from './contract.ts';

// 422s that are about the state of things rather than the request's shape
const PRECONDITIONS = new Set([
  'TEMPLATE_NOT_APPROVED',
  'SIGNATURE_NOT_APPROVED',
  'MOBILE_OPTED_OUT',
]);

/** The gRPC code for an HTTP status (and stable code) of the problem catalogue. */
export function grpcCodeOf(httpStatus: number, code: string): Status {
  switch (httpStatus) {
    case 400:
    case 413:
    case 415:
      return Status.INVALID_ARGUMENT;
    case 422:
      return PRECONDITIONS.has(code) ? Status.FAILED_PRECONDITION : Status.INVALID_ARGUMENT;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.NOT_FOUND;
    case 409:
      if (code === 'VERSION_CONFLICT') return Status.ABORTED;
      return /_TAKEN$|ALREADY_EXISTS$/.test(code)
        ? Status.ALREADY_EXISTS
        : Status.FAILED_PRECONDITION;
    case 410:
    case 412:
      return Status.FAILED_PRECONDITION;
    case 429:
      return Status.RESOURCE_EXHAUSTED;
    case 501:
      return Status.UNIMPLEMENTED;
    case 503:
      return Status.UNAVAILABLE;
    default:
      return httpStatus >= 400 && httpStatus < 500 ? Status.FAILED_PRECONDITION : Status.INTERNAL;
  }
}

const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** Any thrown value as the ServiceError grpc-js sends, with its details trailer. */
export function toServiceError(
  err: unknown,
  requestId: string,
): ServiceError & { stableCode: string } {
  const problem = toProblem(err, requestId);
  const code = grpcCodeOf(problem.status, problem.body.code);
  const metadata: Record<string, string> = { requestId };
  for (const [key, value] of Object.entries(problem.body.details ?? {})) {
    metadata[key] = asText(value);
  }
  const retryAfter = Number(problem.headers['Retry-After']);
  const trailer = new Metadata();
  trailer.set(
    'grpc-status-details-bin',
    statusDetails({
      code,
      message: problem.body.message,
      reason: problem.body.code,
      metadata,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
    }),
  );
  trailer.set('x-request-id', requestId);
  const out = Object.assign(new Error(problem.body.message), {
    code,
    details: problem.body.message,
    metadata: trailer,
    stableCode: problem.body.code,
  });
  return out;
}
