// What every RPC does around its handler: read the request id, refuse an
// unreadable request (INVALID_ARGUMENT), authenticate `authorization` as HTTP
// does, run, and answer a thrown error as a gRPC status (errors.ts).
import { randomUUID } from 'node:crypto';
import {
  Metadata,
  status as Status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { actorOf, type Principal } from '../platform/auth/index.ts';
import { AppError } from '../platform/errors/index.ts';
import type { EventMetadata } from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import { counter } from '../platform/metrics/index.ts';
import { unreadableOf } from './contract.ts';
import { toServiceError } from './errors.ts';

const requests = counter({
  name: 'streaming_grpc_requests_total',
  help: 'gRPC calls answered, by method and gRPC status code name',
  labelNames: ['method', 'code'] as const,
});
const codeNames = Object.fromEntries(
  Object.entries(Status).map(([name, value]) => [value, name]),
) as Record<number, string>;

export interface CallContext {
  principal: Principal;
  requestId: string;
  /** Event metadata for what this call appends: correlation, request id, actor. */
  meta: Partial<EventMetadata>;
  metadata: Metadata;
}

export type Resolve = (authorization: string | undefined) => Promise<Principal>;

/** The first value of a metadata key as text (binary keys are not read). */
export function metadataText(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

function requestIdOf(metadata: Metadata): string {
  const given = metadataText(metadata, 'x-request-id');
  return given !== undefined && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

async function contextOf(
  resolve: Resolve,
  request: unknown,
  metadata: Metadata,
  requestId: string,
): Promise<CallContext> {
  const unreadable = unreadableOf(request);
  if (unreadable) throw unreadable;
  const principal = await resolve(metadataText(metadata, 'authorization'));
  return {
    principal,
    requestId,
    meta: { correlationId: requestId, requestId, actor: actorOf(principal) },
    metadata,
  };
}

export interface CallOptions {
  resolve: Resolve;
  logger: Logger;
  /** Called with each answer (for the send counter): undefined on success, else the stable code. */
  onAnswer?: (errorCode: string | undefined) => void;
}

function report(
  options: CallOptions,
  method: string,
  err: unknown,
  requestId: string,
): ReturnType<typeof toServiceError> {
  const serviceError = toServiceError(err, requestId);
  requests.inc({ method, code: codeNames[serviceError.code] ?? String(serviceError.code) });
  options.onAnswer?.(serviceError.stableCode);
  if (serviceError.code === Status.INTERNAL) {
    options.logger.error('gRPC call failed', { method, requestId, err });
  }
  return serviceError;
}

/** A unary handler for grpc-js around `run`. */
export function unary<Req, Res>(
  options: CallOptions,
  method: string,
  run: (request: Req, ctx: CallContext) => Promise<Res>,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const requestId = requestIdOf(call.metadata);
    const head = new Metadata();
    head.set('x-request-id', requestId);
    call.sendMetadata(head);
    contextOf(options.resolve, call.request, call.metadata, requestId)
      .then((ctx) => run(call.request, ctx))
      .then(
        (answer) => {
          requests.inc({ method, code: 'OK' });
          options.onAnswer?.(undefined);
          callback(null, answer);
        },
        (err: unknown) => callback(report(options, method, err, requestId)),
      );
  };
}

/** A server-streaming handler: `run` writes to the call until it ends or is cancelled. */
export function serverStream<Req, Res>(
  options: CallOptions,
  method: string,
  run: (call: ServerWritableStream<Req, Res>, ctx: CallContext) => Promise<void>,
) {
  return (call: ServerWritableStream<Req, Res>): void => {
    const requestId = requestIdOf(call.metadata);
    const head = new Metadata();
    head.set('x-request-id', requestId);
    call.sendMetadata(head);
    contextOf(options.resolve, call.request, call.metadata, requestId)
      .then((ctx) => run(call, ctx))
      .then(
        () => {
          requests.inc({ method, code: call.cancelled ? 'CANCELLED' : 'OK' });
          if (!call.cancelled) call.end();
        },
        (err: unknown) => {
          const serviceError = report(options, method, err, requestId);
          if (!call.cancelled) call.emit('error', serviceError);
        },
      );
  };
}

/** A field the proto marks required (an id) that the client left empty. */
export function required(value: string | undefined, field: string): string {
  if (value === undefined || value === '') {
    throw new AppError('VALIDATION_FAILED', `${field} is required.`, {
      errors: [{ path: field, message: 'is required' }],
    });
  }
  return value;
}

/** Proto enum names ↔ the lower-case values of the HTTP API. */
export function fromEnum(prefix: string, value: unknown): unknown {
  if (typeof value !== 'string') return value; // an unknown number: the schema refuses it
  return value.startsWith(prefix) ? value.slice(prefix.length).toLowerCase() : value;
}
export function toEnum(prefix: string, value: unknown): string | undefined {
  return typeof value === 'string' ? `${prefix}${value.toUpperCase()}` : undefined;
}
