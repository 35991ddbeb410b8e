// Every field of an HTTP request body or query (the JSON Schemas the HTTP API
// validates with) has its twin of the same name in the gRPC request message,
// nested objects and list items included, and so does every field of the
// Send and SendBatch answers: a field added to HTTP and forgotten in the
// .proto fails here, not in a client's hands.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import {
  checkVerificationBody,
  checkVerificationResponse,
  createTemplateBody,
  createTemplateResponse,
  requestVerificationBody,
  requestVerificationResponse,
  sendBatchBody,
  sendBatchResponse,
  sendMessageBody,
  sendMessageResponse,
  updateTemplateBody,
} from '../schemas/http/index.ts';
import {
  getMessageQuery,
  getTemplateQuery,
  listMessagesQuery,
  listTemplatesQuery,
} from '../schemas/openapi/query.ts';
import { protoFiles, protoRoot, reflectionContract } from './contract.ts';

type Schema = {
  properties?: Record<string, Schema>;
  items?: Schema;
  oneOf?: Schema[];
  type?: string | string[];
};

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(protoRoot, target);
root.loadSync(protoFiles, { keepCase: false });
root.resolveAll();

/** The properties a schema allows, merged over its oneOf branches. */
function propertiesOf(schema: Schema): Record<string, Schema> {
  return Object.assign({}, schema.properties, ...(schema.oneOf ?? []).map(propertiesOf));
}

/**
 * Where the .proto names a field differently, on purpose: protobuf has no
 * free-form object, so a batch refusal's `details` travel as JSON text.
 */
const renamed: Record<string, string> = { 'results.details': 'detailsJson' };

/** The paths of schema properties with no field of that name in the message. */
function missing(schema: Schema, type: protobuf.Type, at = ''): string[] {
  const out: string[] = [];
  for (const [name, prop] of Object.entries(propertiesOf(schema))) {
    const field = type.fields[renamed[`${at}${name}`] ?? name];
    if (!field) {
      out.push(`${at}${name}`);
      continue;
    }
    const inner = field.resolvedType;
    const element = prop.items ?? prop;
    if (inner instanceof protobuf.Type && Object.keys(propertiesOf(element)).length > 0) {
      out.push(...missing(element, inner, `${at}${name}.`));
    }
  }
  return out;
}

const pairs: [string, Schema, string][] = [
  ['POST /v1/messages', sendMessageBody, 'SendMessageRequest'],
  ['POST /v1/messages (202)', sendMessageResponse, 'SendMessageResponse'],
  ['POST /v1/messages/batch', sendBatchBody, 'SendBatchRequest'],
  ['POST /v1/messages/batch (200)', sendBatchResponse, 'SendBatchResponse'],
  ['GET /v1/messages/{id}', getMessageQuery, 'GetMessageRequest'],
  ['GET /v1/messages', listMessagesQuery, 'ListMessagesRequest'],
  ['POST /v1/verifications', requestVerificationBody, 'SendVerificationRequest'],
  ['POST /v1/verifications (202)', requestVerificationResponse, 'SendVerificationResponse'],
  ['POST /v1/verifications/check', checkVerificationBody, 'CheckVerificationRequest'],
  ['POST /v1/verifications/check (200)', checkVerificationResponse, 'CheckVerificationResponse'],
  ['POST /v1/templates', createTemplateBody, 'CreateTemplateRequest'],
  ['POST /v1/templates (201)', createTemplateResponse, 'CreateTemplateResponse'],
  ['PATCH /v1/templates/{code}', updateTemplateBody, 'UpdateTemplateRequest'],
  ['GET /v1/templates/{code}', getTemplateQuery, 'GetTemplateRequest'],
  ['GET /v1/templates', listTemplatesQuery, 'ListTemplatesRequest'],
];

describe('the gRPC contract mirrors the HTTP schemas', () => {
  for (const [http, schema, message] of pairs) {
    it(`${http} → streaming.v1.${message}: every field has its twin`, () => {
      const type = root.lookupType(`streaming.v1.${message}`);
      assert.ok(Object.keys(propertiesOf(schema)).length > 0, `${http} has properties`);
      assert.deepEqual(missing(schema, type), [], `${http} fields missing in ${message}`);
    });
  }

  it('would notice a missing field (the check itself)', () => {
    const type = root.lookupType('streaming.v1.SendMessageRequest');
    const extra = { properties: { ...sendMessageBody.properties, notInProto: {} } } as Schema;
    assert.deepEqual(missing(extra, type), ['notInProto']);
    const nested = {
      properties: { recipients: { items: { properties: { mobile: {}, gone: {} } } } },
    } as Schema;
    assert.deepEqual(missing(nested, root.lookupType('streaming.v1.SendBatchRequest')), [
      'recipients.gone',
    ]);
  });
});

describe('what server reflection serves', () => {
  it('every field type resolves in its file or an import (as grpcurl resolves them)', () => {
    const FileDescriptorProto = (descriptor as unknown as { FileDescriptorProto: protobuf.Type })
      .FileDescriptorProto;
    type Msg = {
      name: string;
      field?: { name: string; typeName?: string }[];
      nestedType?: Msg[];
      enumType?: { name: string }[];
    };
    type File = {
      name: string;
      package?: string;
      dependency?: string[];
      messageType?: Msg[];
      enumType?: { name: string }[];
    };
    const files = new Map<string, File>();
    for (const entry of Object.values(reflectionContract(healthProtoPath))) {
      for (const bytes of (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ??
        []) {
        const file = FileDescriptorProto.toObject(FileDescriptorProto.decode(bytes)) as File;
        files.set(file.name, file);
      }
    }
    const names = (prefix: string, list: Msg[] = [], enums: { name: string }[] = []): string[] => [
      ...enums.map((e) => `${prefix}.${e.name}`),
      ...list.flatMap((m) => [
        `${prefix}.${m.name}`,
        ...names(`${prefix}.${m.name}`, m.nestedType, m.enumType),
      ]),
    ];
    const defined = (file: File) =>
      new Set(names(`.${file.package}`, file.messageType, file.enumType));
    const unresolved: string[] = [];
    for (const file of files.values()) {
      const visible = new Set([
        ...defined(file),
        ...(file.dependency ?? []).flatMap((d) => [...defined(files.get(d)!)]),
      ]);
      const check = (m: Msg, scope: string) => {
        for (const f of m.field ?? []) {
          if (!f.typeName) continue;
          const parts = scope.split('.');
          const candidates = f.typeName.startsWith('.')
            ? [f.typeName]
            : parts.map((_, n) => `${parts.slice(0, parts.length - n).join('.')}.${f.typeName}`);
          if (!candidates.some((c) => visible.has(c)))
            unresolved.push(`${file.name} ${m.name}.${f.name}: ${f.typeName}`);
        }
        for (const n of m.nestedType ?? []) check(n, `${scope}.${n.name}`);
      };
      for (const m of file.messageType ?? []) check(m, `.${file.package}.${m.name}`);
    }
    assert.ok(files.size > 0);
    assert.ok(
      [...files.values()].some((f) => f.messageType?.some((m) => m.name === 'ErrorInfo')),
      'google.rpc.ErrorInfo is served',
    );
    assert.deepEqual(unresolved, []);
  });
});
