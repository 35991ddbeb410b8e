// The RPCs of streaming.v1, each mapped onto the function its HTTP twin runs:
// the same JSON Schema checks the decoded request, the same command handler or
// read-model query answers, and the answer is the HTTP body with enums named
// as in the .proto. No rule is decided here.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  acceptSend,
  cancelMessage,
  idempotencyKeyOf,
  sendBatch,
  type BatchInput,
  type SendInput,
  checkCode,
  countSend,
  createTemplate,
  issueCode,
  updateTemplate,
  type CreateTemplateBody,
  type UpdateTemplateBody,
} from '../command-service/index.ts';
import { validateInput } from '../platform/http/index.ts';
import {
  getMessage,
  getTemplate,
  listMessages,
  listTemplates,
  type ListMessagesQuery,
  type ListTemplatesQuery,
} from '../query-service/index.ts';
import {
  checkVerificationBody,
  createTemplateBody,
  requestVerificationBody,
  sendBatchBody,
  sendMessageBody,
  updateTemplateBody,
} from '../schemas/http/index.ts';
import {
  getMessageQuery,
  getTemplateQuery,
  listMessagesQuery,
  listTemplatesQuery,
} from '../schemas/openapi/query.ts';
import {
  fromEnum,
  metadataText,
  required,
  toEnum,
  unary,
  serverStream,
  type CallOptions,
} from './calls.ts';
import type { GrpcDeps } from './deps.ts';
import { watchMessages } from './watch.ts';

type Obj = Record<string, unknown>;
const KIND = 'TEMPLATE_KIND_';
const STATUS = 'MESSAGE_STATUS_';

/** Leaves out what the client did not set (undefined), as a JSON body would. */
function defined(input: Obj): Obj {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}

function messageOut(view: Obj): Obj {
  return { ...view, kind: toEnum(KIND, view.kind), status: toEnum(STATUS, view.status) };
}
function templateOut(view: Obj): Obj {
  return { ...view, kind: toEnum(KIND, view.kind) };
}

/** Messages/Send's request as the REST body it stands for. */
function sendInput(req: Obj) {
  return validateInput<Omit<SendInput, 'idempotencyKey'>>(
    sendMessageBody,
    defined({
      templateCode: req.templateCode,
      mobile: req.mobile,
      params: req.params,
      sendAt: req.sendAt,
      statusCallback: req.statusCallback,
    }),
    'body',
  );
}

/** Messages/SendBatch's request as the REST body it stands for. */
function batchInput(req: Obj) {
  return validateInput<Omit<BatchInput, 'idempotencyKey'>>(
    sendBatchBody,
    defined({
      templateCode: req.templateCode,
      // a repeated field has no presence in proto3: none sent is an empty list
      recipients: ((req.recipients ?? []) as Obj[]).map(defined),
      sendAt: req.sendAt,
    }),
    'body',
  );
}

/** Messages/List's request as the REST query it stands for. */
function listQuery(req: Obj) {
  return validateInput<ListMessagesQuery>(
    listMessagesQuery,
    defined({
      mobile: req.mobile,
      template: req.template,
      status: fromEnum(STATUS, req.status),
      from: req.from,
      to: req.to,
      tenant: req.tenant,
      limit: req.limit,
      cursor: req.cursor,
      after: req.after,
    }),
    'query',
  );
}

export function messagesService(
  deps: GrpcDeps,
  options: CallOptions,
): UntypedServiceImplementation {
  const sendOptions: CallOptions = {
    ...options,
    onAnswer: (code) => countSend(code === undefined, code ?? ''),
  };
  return {
    Send: unary(sendOptions, 'Messages/Send', async (req: Obj, ctx) => {
      const body = sendInput(req);
      return acceptSend(
        deps,
        ctx.principal,
        body,
        metadataText(ctx.metadata, 'idempotency-key'),
        ctx.meta,
      );
    }),
    SendBatch: unary(options, 'Messages/SendBatch', async (req: Obj, ctx) => {
      const body = batchInput(req);
      const idempotencyKey = idempotencyKeyOf(metadataText(ctx.metadata, 'idempotency-key'));
      const answer = await sendBatch(deps, ctx.principal, { ...body, idempotencyKey }, ctx.meta);
      return {
        ...answer,
        results: answer.results.map((r) => {
          const { details, ...rest } = r as typeof r & { details?: unknown };
          return details === undefined ? rest : { ...rest, detailsJson: JSON.stringify(details) };
        }),
      };
    }),
    Get: unary(options, 'Messages/Get', async (req: Obj, ctx) => {
      const id = required(req.messageId as string | undefined, 'messageId');
      const q = validateInput<{ after?: number }>(
        getMessageQuery,
        defined({ after: req.after }),
        'query',
      );
      return messageOut(await getMessage(deps, ctx.principal, id, q.after));
    }),
    List: unary(options, 'Messages/List', async (req: Obj, ctx) => {
      const q = listQuery(req);
      const page = await listMessages(deps, ctx.principal, q);
      return { items: page.items.map(messageOut), nextCursor: page.nextCursor };
    }),
    Cancel: unary(options, 'Messages/Cancel', async (req: Obj, ctx) => {
      const id = required(req.messageId as string | undefined, 'messageId');
      const answer = await cancelMessage(deps, ctx.principal, id, ctx.meta);
      return { ...answer, status: toEnum(STATUS, answer.status) };
    }),
    Watch: serverStream(options, 'Messages/Watch', (call, ctx) => watchMessages(deps, call, ctx)),
  };
}

export function verificationsService(
  deps: GrpcDeps,
  options: CallOptions,
): UntypedServiceImplementation {
  const sendOptions: CallOptions = {
    ...options,
    onAnswer: (code) => countSend(code === undefined, code ?? ''),
  };
  return {
    Send: unary(sendOptions, 'Verifications/Send', async (req: Obj, ctx) => {
      const body = validateInput<{
        templateCode: string;
        mobile: string;
        params?: Record<string, string>;
      }>(
        requestVerificationBody,
        defined({ templateCode: req.templateCode, mobile: req.mobile, params: req.params }),
        'body',
      );
      return issueCode(deps, ctx.principal, body, ctx.meta);
    }),
    Check: unary(options, 'Verifications/Check', async (req: Obj, ctx) => {
      const body = validateInput<{ templateCode: string; mobile: string; code: string }>(
        checkVerificationBody,
        defined({ templateCode: req.templateCode, mobile: req.mobile, code: req.code }),
        'body',
      );
      return checkCode(deps, ctx.principal, body, ctx.meta);
    }),
  };
}

export function templatesService(
  deps: GrpcDeps,
  options: CallOptions,
): UntypedServiceImplementation {
  return {
    Create: unary(options, 'Templates/Create', async (req: Obj, ctx) => {
      const body = validateInput<CreateTemplateBody>(
        createTemplateBody,
        defined({
          name: req.name,
          kind: fromEnum(KIND, req.kind),
          signature: req.signature,
          content: req.content,
          suppliers: req.suppliers,
          policy: req.policy,
          verification: req.verification,
          extendCode: req.extendCode,
          quietHours: req.quietHours,
        }),
        'body',
      );
      return createTemplate(deps, ctx.principal, body, ctx.meta);
    }),
    Update: unary(options, 'Templates/Update', async (req: Obj, ctx) => {
      const code = required(req.templateCode as string | undefined, 'templateCode');
      const body = validateInput<UpdateTemplateBody>(
        updateTemplateBody,
        defined({
          signature: req.signature,
          content: req.content,
          suppliers: req.suppliers,
          policy: req.policy,
          verification: req.verification,
          extendCode: req.removeExtendCode === true ? null : req.extendCode,
          quietHours: req.removeQuietHours === true ? null : req.quietHours,
        }),
        'body',
      );
      return updateTemplate(deps, ctx.principal, code, body, ctx.meta);
    }),
    Get: unary(options, 'Templates/Get', async (req: Obj, ctx) => {
      const code = required(req.templateCode as string | undefined, 'templateCode');
      const q = validateInput<{ tenant?: string; after?: number }>(
        getTemplateQuery,
        defined({ tenant: req.tenant, after: req.after }),
        'query',
      );
      return templateOut(await getTemplate(deps, ctx.principal, code, q));
    }),
    List: unary(options, 'Templates/List', async (req: Obj, ctx) => {
      const q = validateInput<ListTemplatesQuery>(
        listTemplatesQuery,
        defined({
          status: req.status,
          kind: fromEnum(KIND, req.kind),
          tenant: req.tenant,
          limit: req.limit,
          cursor: req.cursor,
          after: req.after,
        }),
        'query',
      );
      const page = await listTemplates(deps, ctx.principal, q);
      return { items: page.items.map(templateOut), nextCursor: page.nextCursor };
    }),
  };
}
