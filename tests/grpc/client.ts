// A gRPC client of streaming.v1 for the tests, made from the same .proto files
// with @grpc/proto-loader, with answers and errors as plain values.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoFiles, protoRoot, readStatusDetails } from '../../grpc-service/index.ts';

export type Obj = Record<string, unknown>;

export interface GrpcFailure {
  code: grpc.status;
  codeName: string;
  message: string;
  reason: string | undefined;
  metadata: Record<string, string>;
  retryDelaySeconds: number | undefined;
}

export type GrpcAnswer = { ok: true; value: Obj } | { ok: false; error: GrpcFailure };

export const definition = protoLoader.loadSync(protoFiles, {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: false,
  includeDirs: [protoRoot],
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  streaming: { v1: Record<string, grpc.ServiceClientConstructor> };
};
const codeNames = Object.fromEntries(
  Object.entries(grpc.status).map(([name, value]) => [value, name]),
) as Record<number, string>;

export function failureOf(err: grpc.ServiceError): GrpcFailure {
  const bin = err.metadata?.get('grpc-status-details-bin')[0];
  const details = Buffer.isBuffer(bin) ? readStatusDetails(bin) : undefined;
  return {
    code: err.code,
    codeName: codeNames[err.code] ?? String(err.code),
    message: err.details,
    reason: details?.errorInfo?.reason,
    metadata: details?.errorInfo?.metadata ?? {},
    retryDelaySeconds: details?.retryDelaySeconds,
  };
}

export interface StreamingClients {
  messages: grpc.Client;
  verifications: grpc.Client;
  templates: grpc.Client;
  /** One unary call: service.method(request) with `authorization: Bearer <token>` (when given). */
  call(
    service: 'messages' | 'verifications' | 'templates',
    method: string,
    request: Obj,
    options?: { token?: string | undefined; metadata?: Record<string, string> },
  ): Promise<GrpcAnswer>;
  close(): void;
}

export function metadataOf(token: string | undefined, extra: Record<string, string> = {}) {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

/** Clients of the three services on one address (plaintext unless `creds` say otherwise). */
export async function connect(
  address: string,
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<StreamingClients> {
  const v1 = loaded.streaming.v1;
  const messages = new v1.Messages!(address, creds);
  const verifications = new v1.Verifications!(address, creds);
  const templates = new v1.Templates!(address, creds);
  await new Promise<void>((resolve, reject) =>
    messages.waitForReady(Date.now() + 60_000, (err) => (err ? reject(err) : resolve())),
  );
  const clients = { messages, verifications, templates };
  return {
    ...clients,
    call(service, method, request, options = {}) {
      const client = clients[service] as unknown as Record<
        string,
        (
          req: Obj,
          md: grpc.Metadata,
          cb: (err: grpc.ServiceError | null, value: Obj) => void,
        ) => void
      >;
      return new Promise((resolve) => {
        client[method]!.call(
          clients[service],
          request,
          metadataOf(options.token, options.metadata),
          (err, value) => resolve(err ? { ok: false, error: failureOf(err) } : { ok: true, value }),
        );
      });
    },
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}

/** Sends raw bytes as the request of `path` (e.g. /streaming.v1.Messages/Send). */
export function rawCall(
  client: grpc.Client,
  path: string,
  bytes: Buffer,
  token: string,
): Promise<GrpcAnswer> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => ({ bytes: b.length }) as Obj,
      bytes,
      metadataOf(token),
      (err, value) =>
        resolve(err ? { ok: false, error: failureOf(err) } : { ok: true, value: value! }),
    );
  });
}
