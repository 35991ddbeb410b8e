// The command service: HTTP command API over the event store. Routes, as a
// table of contents:
//
//   POST   /v1/users                       registeringUsers   username-<name>, user-<id>
//   POST   /v1/sessions                    registeringUsers   (reads; user-<id> on re-hash)
//   POST   /v1/sessions/logout             registeringUsers   user-<id>
//   POST   /v1/users/me/password           registeringUsers   user-<id>
//   POST   /v1/users/:id/disable|enable    registeringUsers   user-<id> (admin)
//   POST   /v1/api-keys                    managingApiKeys    apikey-<keyId>
//   GET    /v1/api-keys                    managingApiKeys    (reads only)
//   DELETE /v1/api-keys/:id                managingApiKeys    apikey-<keyId>
//   POST   /v1/templates                   managingTemplates  template-<code>
//   PATCH  /v1/templates/:code             managingTemplates  template-<code>
//   POST   /v1/templates/:code/bindings    managingTemplates  template-<code>
//   POST   /v1/templates/:code/disable     managingTemplates  template-<code>
//   POST   /v1/templates/:code/enable      managingTemplates  template-<code>
//   POST   /v1/signatures                  managingSignatures signature-name-<hash>, signature-<tenant>-<hash>
//   POST   /v1/callbacks                   managingCallbacks  callback-<id>
//   PATCH  /v1/callbacks/:id               managingCallbacks  callback-<id>
//   DELETE /v1/callbacks/:id               managingCallbacks  callback-<id>
//   POST   /v1/callbacks/:id/resume|test|replay managingCallbacks callback-<id>
//   POST   /v1/messages                    sendingMessages    message-<id>
//   POST   /v1/verifications               verifyingCodes     verification-<code>-<digest>, message-<id>
//   POST   /v1/verifications/check         verifyingCodes     verification-<code>-<digest>
//   GET    /v1/verification-guards         verifyingCodes     (Redis; admin)
//   POST   /v1/verification-guards/lift    verifyingCodes     verification-guard-<tenant> (admin)
//   POST   /v1/verified-numbers[/check]    managingTenants    tenant-<id>, message-<id>
//   POST   /v1/tenants/:id/activate|suspend managingTenants   tenant-<id> (admin)
//   PUT    /v1/tenants/:id/limits          managingTenants    tenant-<id> (admin)
//   GET    /openapi.json, /docs            the API description
import type { Express, Router } from 'express';
import { createAuthenticator } from '../platform/auth/index.ts';
import { readinessChecks } from '../platform/clients/index.ts';
import { redisPrefixOf } from '../platform/config/index.ts';
import {
  createHttpApp,
  finishHttpApp,
  pipelineReport,
  startHttpServer,
} from '../platform/http/index.ts';
import { counter } from '../platform/metrics/index.ts';
import type { RequestHandler } from 'express';

const sends = counter({
  name: 'streaming_sends_total',
  help: 'Send requests (POST /v1/messages, /v1/verifications) by outcome (accepted, refused) and error code',
  labelNames: ['outcome', 'code'] as const,
});

/** Counts one answered send request (HTTP or gRPC): accepted, or refused with its code. */
export function countSend(accepted: boolean, code: string): void {
  sends.inc({
    outcome: accepted ? 'accepted' : 'refused',
    code: accepted ? '' : code || 'UNKNOWN',
  });
}

/** Counts each send request once it is answered: accepted (2xx) or refused with its code. */
const countSends: RequestHandler = (req, res, next) => {
  if (req.method !== 'POST' || (req.path !== '/' && req.path !== '')) return next();
  res.once('finish', () => {
    const code = (res.locals as { errorCode?: string }).errorCode ?? '';
    countSend(res.statusCode < 300, code);
  });
  next();
};
import { serveApiDocs } from '../platform/http/apiDocs.ts';
import { buildOpenApi } from '../schemas/openapi/index.ts';
import type { CommandDeps } from './deps.ts';
import { apiKeysRouter } from './managingApiKeys/index.ts';
import { optOutsRouter } from './managingOptOuts/index.ts';
import { callbacksRouter } from './managingCallbacks/index.ts';
import { signaturesRouter } from './managingSignatures/index.ts';
import { templatesRouter } from './managingTemplates/index.ts';
import { tenantStateKey, tenantsRouter } from './managingTenants/index.ts';
import { usersRouter } from './registeringUsers/index.ts';
import { messagesRouter } from './sendingMessages/index.ts';
import { verificationsRouter } from './verifyingCodes/index.ts';

export type { CommandDeps } from './deps.ts';
export { createAdmin, registerUser, login } from './registeringUsers/index.ts';
export {
  sendMessage,
  sendBatch,
  cancelMessage,
  acceptSend,
  type SendInput,
  type BatchInput,
  type BatchAnswer,
} from './sendingMessages/index.ts';
export { createTemplate, updateTemplate } from './managingTemplates/index.ts';
export type {
  CreateBody as CreateTemplateBody,
  UpdateBody as UpdateTemplateBody,
} from './managingTemplates/index.ts';
export { registerSignature } from './managingSignatures/index.ts';
export { requestCode, checkCode, issueCode } from './verifyingCodes/index.ts';
export { setOptOut } from './managingOptOuts/index.ts';
export { metaOf, type Meta } from './commandHandling/index.ts';
export { idempotencyKeyOf } from './sendingMessages/accepting.ts';
export {
  adminTenant,
  sendNumberCode,
  checkNumberCode,
  tenantStateKey,
} from './managingTenants/index.ts';

export interface CommandAppOptions {
  /** Extra routers mounted before the API (e.g. the supplier webhooks); they authenticate themselves. */
  routers?: { path: string; router: Router }[];
}

export function createCommandApp(deps: CommandDeps, options: CommandAppOptions = {}): Express {
  const { eventStore, redis } = deps;
  const app = createHttpApp({
    config: deps.config,
    logger: deps.logger,
    name: 'command-service',
    readiness: readinessChecks({
      eventStore,
      redis,
      ...(deps.pipeline
        ? { pipeline: { pipeline: deps.pipeline, head: () => eventStore.headPosition() } }
        : {}),
    }),
    ...(deps.pipeline
      ? {
          pipeline: pipelineReport(
            deps.pipeline,
            eventStore,
            redis,
            redisPrefixOf({ config: deps.config }),
          ),
        }
      : {}),
  });
  serveApiDocs(app, buildOpenApi());
  for (const { path, router } of options.routers ?? []) app.use(path, router);
  const auth = createAuthenticator({
    config: deps.config,
    eventStore,
    redis,
    redisPrefix: deps.redisPrefix,
    // a send reads the tenant's state copy in the session check's round trip
    prefetch: (userId) => [tenantStateKey(deps, userId)],
  });
  app.use(usersRouter(deps, auth));
  app.use(apiKeysRouter(deps, auth));
  app.use(templatesRouter(deps, auth));
  app.use(signaturesRouter(deps, auth));
  app.use(callbacksRouter(deps, auth));
  app.use(['/v1/messages', '/v1/verifications'], countSends);
  app.use(messagesRouter(deps, auth));
  app.use(optOutsRouter(deps, auth));
  app.use(verificationsRouter(deps, auth));
  app.use(tenantsRouter(deps, auth));
  return finishHttpApp(app);
}

export interface RunningCommandService {
  url: string;
  close(): Promise<void>;
}

/** Listens on config.http.host:commandPort (or options.port; 0 picks a free one). */
export async function startCommandService(
  deps: CommandDeps,
  options: CommandAppOptions & { port?: number } = {},
): Promise<RunningCommandService> {
  const app = createCommandApp(deps, options);
  const server = await startHttpServer(app, {
    host: deps.config.http.host,
    port: options.port ?? deps.config.http.commandPort,
    tls: deps.config.http.tls,
    shutdownTimeoutMs: deps.config.http.shutdownTimeoutMs,
  });
  return { url: server.url, close: () => server.close() };
}
