// The gRPC contract: the .proto files under schemas/grpc, loaded at start with
// @grpc/proto-loader (no generated or hand-written wire code). Requests are
// decoded to plain objects in the JSON shape of the HTTP bodies (camelCase
// fields, enums by name, int64 as numbers, fields the client did not send
// left out), so that the HTTP API's JSON Schemas check them too.
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { AppError } from '../platform/errors/index.ts';

export const protoRoot = fileURLToPath(new URL('../schemas/grpc/', import.meta.url));
export const protoFiles = [
  'streaming/v1/messages.proto',
  'streaming/v1/verifications.proto',
  'streaming/v1/templates.proto',
];

const loaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: false,
  oneofs: false,
  includeDirs: [protoRoot],
};

/** A request the server could not read: the handler answers INVALID_ARGUMENT with this error. */
export const UNREADABLE = Symbol('unreadable request');
export type Unreadable = { [UNREADABLE]: AppError };

export function unreadableOf(request: unknown): AppError | undefined {
  return typeof request === 'object' && request !== null && UNREADABLE in request
    ? (request as Unreadable)[UNREADABLE]
    : undefined;
}

/**
 * The package definition, with every request decoder wrapped: a request over
 * `limitBytes` or one that is no valid protobuf of its type becomes a marker
 * the handler answers with INVALID_ARGUMENT (grpc-js itself would answer
 * RESOURCE_EXHAUSTED or INTERNAL), and nothing is decided on it.
 */
export function loadContract(limitBytes: number): protoLoader.PackageDefinition {
  const definition = protoLoader.loadSync(protoFiles, loaderOptions);
  for (const [name, entry] of Object.entries(definition)) {
    if (!name.startsWith('streaming.v1.') || 'format' in entry) continue;
    for (const method of Object.values(entry as protoLoader.ServiceDefinition)) {
      const decode = method.requestDeserialize;
      const type = (method.requestType.type as { name?: string }).name ?? method.path;
      (method as { requestDeserialize: (b: Buffer) => unknown }).requestDeserialize = (
        bytes: Buffer,
      ) => {
        if (bytes.length > limitBytes) {
          return {
            [UNREADABLE]: new AppError(
              'BODY_TOO_LARGE',
              `The request message (${bytes.length} bytes) is larger than the limit of ${limitBytes} bytes.`,
              { limitBytes },
            ),
          };
        }
        try {
          // a plain Uint8Array: protobufjs's Buffer reader clamps a truncated
          // field instead of failing, its array reader checks every length
          return decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) as Buffer);
        } catch (err) {
          return {
            [UNREADABLE]: new AppError(
              'BAD_REQUEST',
              `The request is not a valid ${type} protobuf message: ${(err as Error).message}.`,
            ),
          };
        }
      };
    }
  }
  return definition;
}

/**
 * What server reflection serves: the contract with the .proto names
 * (snake_case), grpc.health.v1 and google.rpc's error details. protobufjs names a map field's entry type
 * `Params` where protobuf requires `ParamsEntry` (grpcurl refuses the file
 * otherwise): the descriptors are corrected here.
 */
export function reflectionContract(healthProto: string): protoLoader.PackageDefinition {
  const definition = {
    ...protoLoader.loadSync(protoFiles, { ...loaderOptions, keepCase: true }),
    ...protoLoader.loadSync(healthProto, { keepCase: true }),
    // the error details, so that grpcurl (reflection) decodes ErrorInfo and RetryInfo
    ...protoLoader.loadSync('google/rpc/error_details.proto', {
      keepCase: true,
      includeDirs: [protoRoot],
    }),
  };
  // every file once, decoded, to know which file defines which type
  const files = new Map<Buffer, DescriptorFile>();
  const eachFileList = (visit: (list: Buffer[]) => Buffer[]) => {
    for (const entry of Object.values(definition)) {
      const holder = entry as { fileDescriptorProtos?: Buffer[] };
      if (holder.fileDescriptorProtos)
        holder.fileDescriptorProtos = visit(holder.fileDescriptorProtos);
      for (const method of Object.values(entry as Record<string, unknown>)) {
        const m = method as {
          requestType?: { fileDescriptorProtos?: Buffer[] };
          responseType?: { fileDescriptorProtos?: Buffer[] };
        };
        for (const t of [m?.requestType, m?.responseType]) {
          if (t?.fileDescriptorProtos) t.fileDescriptorProtos = visit(t.fileDescriptorProtos);
        }
      }
    }
  };
  eachFileList((list) => {
    for (const bytes of list) {
      if (!files.has(bytes))
        files.set(bytes, FileDescriptorProto.toObject(FileDescriptorProto.decode(bytes)));
    }
    return list;
  });
  const definedIn = new Map<string, string>();
  for (const file of files.values()) {
    for (const m of file.messageType ?? [])
      definedIn.set(`${file.package ?? ''}.${m.name}`, file.name ?? '');
  }
  const fixed = new Map<Buffer, Buffer>();
  const fix = (bytes: Buffer): Buffer => {
    const known = fixed.get(bytes);
    if (known) return known;
    const file = files.get(bytes)!;
    for (const message of file.messageType ?? []) {
      fixMapEntries(message);
      importTypes(file, message, definedIn);
    }
    const out = Buffer.from(FileDescriptorProto.encode(file).finish());
    fixed.set(bytes, out);
    return out;
  };
  eachFileList((list) => list.map(fix));
  return definition;
}

interface DescriptorMessage {
  name: string;
  field?: { typeName?: string; label?: unknown }[];
  nestedType?: (DescriptorMessage & { options?: { mapEntry?: boolean } })[];
}
/** A FileDescriptorProto as a plain object (toObject: a field not set is absent). */
type DescriptorFile = {
  name?: string;
  package?: string;
  dependency?: string[];
  messageType?: DescriptorMessage[];
};

/**
 * protobufjs writes one file per package without its imports, and a type of
 * another package by a relative name (google.rpc.RetryInfo's
 * `protobuf.Duration`): grpcurl cannot resolve those. Such a field gets the
 * full name and its file becomes an import.
 */
function importTypes(
  file: DescriptorFile,
  message: DescriptorMessage,
  definedIn: Map<string, string>,
): void {
  for (const field of message.field ?? []) {
    const name = field.typeName;
    if (!name || name.startsWith('.')) continue;
    const scopes = (file.package ?? '').split('.');
    for (let n = scopes.length; n >= 0; n -= 1) {
      const full = [...scopes.slice(0, n), name].join('.');
      const home = definedIn.get(full);
      if (home === undefined) continue;
      if (home !== file.name) {
        field.typeName = `.${full}`;
        file.dependency = [...new Set([...(file.dependency ?? []), home])];
      }
      break;
    }
  }
  for (const nested of message.nestedType ?? []) importTypes(file, nested, definedIn);
}

function fixMapEntries(message: DescriptorMessage): void {
  for (const nested of message.nestedType ?? []) {
    if (nested.options?.mapEntry && !nested.name.endsWith('Entry')) {
      const old = nested.name;
      nested.name = `${old}Entry`;
      for (const field of message.field ?? [])
        if (field.typeName === old) field.typeName = nested.name;
    }
    fixMapEntries(nested);
  }
}

// google.rpc.Status and its details, for the grpc-status-details-bin trailer.
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) =>
  target.startsWith('google/protobuf/') ? target : `${protoRoot}${target}`;
rpcRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
const Status = rpcRoot.lookupType('google.rpc.Status');
const ErrorInfo = rpcRoot.lookupType('google.rpc.ErrorInfo');
const RetryInfo = rpcRoot.lookupType('google.rpc.RetryInfo');
const { FileDescriptorProto } = descriptor;

/** google.rpc.Status{code, message, details: [ErrorInfo, RetryInfo?]} as bytes. */
export function statusDetails(status: {
  code: number;
  message: string;
  reason: string;
  metadata: Record<string, string>;
  retryAfterSeconds?: number | undefined;
}): Buffer {
  const details = [
    {
      type_url: 'type.googleapis.com/google.rpc.ErrorInfo',
      value: ErrorInfo.encode(
        ErrorInfo.fromObject({
          reason: status.reason,
          domain: 'streaming',
          metadata: status.metadata,
        }),
      ).finish(),
    },
  ];
  if (status.retryAfterSeconds !== undefined) {
    details.push({
      type_url: 'type.googleapis.com/google.rpc.RetryInfo',
      value: RetryInfo.encode(
        RetryInfo.fromObject({ retryDelay: { seconds: status.retryAfterSeconds, nanos: 0 } }),
      ).finish(),
    });
  }
  return Buffer.from(
    Status.encode(
      Status.fromObject({ code: status.code, message: status.message, details }),
    ).finish(),
  );
}

/** The details of a grpc-status-details-bin trailer (for clients and tests). */
export function readStatusDetails(bytes: Buffer): {
  code: number;
  message: string;
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  retryDelaySeconds?: number;
} {
  const status = Status.toObject(Status.decode(bytes), { longs: Number }) as {
    code: number;
    message: string;
    details?: { type_url: string; value: Uint8Array }[];
  };
  const out: ReturnType<typeof readStatusDetails> = { code: status.code, message: status.message };
  for (const d of status.details ?? []) {
    if (d.type_url.endsWith('/google.rpc.ErrorInfo')) {
      out.errorInfo = ErrorInfo.toObject(ErrorInfo.decode(d.value)) as NonNullable<
        typeof out.errorInfo
      >;
      out.errorInfo.metadata ??= {};
    } else if (d.type_url.endsWith('/google.rpc.RetryInfo')) {
      const info = RetryInfo.toObject(RetryInfo.decode(d.value), { longs: Number }) as {
        retryDelay?: { seconds?: number };
      };
      out.retryDelaySeconds = info.retryDelay?.seconds ?? 0;
    }
  }
  return out;
}
