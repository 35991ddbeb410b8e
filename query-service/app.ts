// The query service: HTTP over the read models, on its own port, with the
// same authentication as the command side.
import type { Express } from 'express';
import { createAuthenticator } from '../platform/auth/index.ts';
import { redisPrefixOf } from '../platform/config/index.ts';
import { readinessChecks } from '../platform/clients/index.ts';
import {
  createHttpApp,
  finishHttpApp,
  pipelineReport,
  startHttpServer,
} from '../platform/http/index.ts';
import { auditRouter } from './exportingAudit/routes.ts';
import { inboundRouter } from './gettingInbound/routes.ts';
import { optOutsRouter } from './gettingOptOuts/routes.ts';
import { callbacksRouter } from './gettingCallbacks/routes.ts';
import { messageExportRouter } from './exportingMessages/routes.ts';
import { messageHistoryRouter } from './gettingMessageHistory/routes.ts';
import { messageStatsRouter } from './gettingMessageStats/routes.ts';
import { templatesRouter } from './gettingTemplates/routes.ts';
import { tenantsRouter } from './gettingTenants/routes.ts';
import { supplierStatsRouter } from './gettingSupplierStats/index.ts';
import { consoleRouter } from './console/index.ts';
import { operationsRouter } from './gettingOperations/routes.ts';
import { serveApiDocs } from '../platform/http/apiDocs.ts';
import { buildOpenApi } from '../schemas/openapi/index.ts';
import type { QueryDeps } from './readModels.ts';

export function createQueryApp(deps: QueryDeps): Express {
  const app = createHttpApp({
    config: deps.config,
    logger: deps.logger,
    name: 'query-service',
    readiness: readinessChecks({
      mysql: deps.mysql,
      redis: deps.redis,
      mongo: deps.mongo,
      ...(deps.pipeline
        ? { pipeline: { pipeline: deps.pipeline, head: () => deps.eventStore.headPosition() } }
        : {}),
    }),
    ...(deps.pipeline
      ? {
          pipeline: pipelineReport(
            deps.pipeline,
            deps.eventStore,
            deps.redis,
            redisPrefixOf({ config: deps.config }),
          ),
        }
      : {}),
  });
  serveApiDocs(app, buildOpenApi());
  app.use(consoleRouter(deps.config));
  const authenticate = createAuthenticator({
    config: deps.config,
    eventStore: deps.eventStore,
    redis: deps.redis,
    redisPrefix: deps.redisPrefix,
  });
  app.use('/v1', authenticate);
  // before /v1/messages/:id
  app.use(messageExportRouter(deps));
  app.use(messageHistoryRouter(deps));
  app.use(templatesRouter(deps));
  app.use(tenantsRouter(deps));
  app.use(inboundRouter(deps));
  app.use(optOutsRouter(deps));
  app.use(callbacksRouter(deps));
  app.use(messageStatsRouter(deps));
  app.use(auditRouter(deps));
  app.use(operationsRouter(deps));
  app.use(supplierStatsRouter({ config: deps.config, mongo: deps.mongo.db, redis: deps.redis }));
  return finishHttpApp(app);
}

export interface RunningQueryService {
  url: string;
  close(): Promise<void>;
}

/** Listens on config.http.queryPort (0 in tests picks a free port). */
export async function startQueryService(
  deps: QueryDeps,
  options: { port?: number } = {},
): Promise<RunningQueryService> {
  const app = createQueryApp(deps);
  const server = await startHttpServer(app, {
    host: deps.config.http.host,
    port: options.port ?? deps.config.http.queryPort,
    tls: deps.config.http.tls,
    shutdownTimeoutMs: deps.config.http.shutdownTimeoutMs,
  });
  deps.logger.info('query service listening', { url: server.url });
  return { url: server.url, close: () => server.close() };
}
