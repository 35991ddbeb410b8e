// The gRPC API (package streaming.v1, contract in schemas/grpc): Messages,
// Verifications and Templates over the command handlers and read models the
// HTTP APIs use, plus grpc.health.v1 and server reflection, on one port
// (STREAMING_GRPC_PORT). It serves both sides because a client wants one
// address: sends, reads and the Watch stream; it runs as its own process
// under `npm start` (`streaming serve grpc`), so long-lived Watch streams and
// HTTP/2 framing never share an event loop with the HTTP command API.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import {
  HealthImplementation,
  protoPath as healthProtoPath,
  type ServingStatus,
} from 'grpc-health-check';
import { tenantStateKey } from '../command-service/index.ts';
import { createPrincipalResolver } from '../platform/auth/index.ts';
import { readinessChecks } from '../platform/clients/index.ts';
import { loadContract, reflectionContract } from './contract.ts';
import type { CallOptions } from './calls.ts';
import type { GrpcDeps } from './deps.ts';
import { messagesService, templatesService, verificationsService } from './services.ts';
import { endWatches } from './watch.ts';

export type { GrpcDeps } from './deps.ts';
export { loadContract, readStatusDetails, protoRoot, protoFiles } from './contract.ts';

export const SERVICE_NAMES = [
  'streaming.v1.Messages',
  'streaming.v1.Verifications',
  'streaming.v1.Templates',
] as const;

/** How often the health service re-checks the dependencies (as /readyz does). */
const HEALTH_EVERY_MS = 5_000;

export interface RunningGrpcService {
  /** host:port, e.g. 127.0.0.1:8082 */
  address: string;
  port: number;
  tls: boolean;
  close(): Promise<void>;
}

function credentials(tls: GrpcDeps['config']['http']['tls']): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  return grpc.ServerCredentials.createSsl(
    null,
    [{ cert_chain: read(tls.certFile, 'certificate'), private_key: read(tls.keyFile, 'key') }],
    false,
  );
}

/** Listens on config.http.host:grpcPort (or options.port; 0 picks a free one). */
export async function startGrpcService(
  deps: GrpcDeps,
  options: { port?: number } = {},
): Promise<RunningGrpcService> {
  const { config } = deps;
  const limit = config.http.bodyLimitBytes;
  const definition = loadContract(limit);
  // grpc-js refuses bigger messages itself (RESOURCE_EXHAUSTED) before our
  // decoder sees them; up to this cap the decoder answers INVALID_ARGUMENT
  const hardCap = Math.max(4 * 1024 * 1024, 4 * limit);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': hardCap,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const callOptions: CallOptions = {
    resolve: createPrincipalResolver({
      config,
      eventStore: deps.eventStore,
      redis: deps.redis,
      redisPrefix: deps.redisPrefix,
      // Messages.Send reads the tenant's state copy in the session check's round trip
      prefetch: (userId) => [tenantStateKey(deps, userId)],
    }),
    logger: deps.logger,
  };
  const service = (name: string) => definition[name] as grpc.ServiceDefinition;
  server.addService(service('streaming.v1.Messages'), messagesService(deps, callOptions));
  server.addService(service('streaming.v1.Verifications'), verificationsService(deps, callOptions));
  server.addService(service('streaming.v1.Templates'), templatesService(deps, callOptions));
  new ReflectionService(reflectionContract(healthProtoPath)).addToServer(server);

  // grpc.health.v1: SERVING while the stores the RPCs need answer (as /readyz)
  const health = new HealthImplementation({ '': 'UNKNOWN' });
  health.addToServer(server);
  const checks = readinessChecks({
    eventStore: deps.eventStore,
    mysql: deps.mysql,
    redis: deps.redis,
    mongo: deps.mongo,
  });
  const setHealth = async () => {
    const results = await checks().catch(() => ({ checks: 'failed' }));
    const status: ServingStatus = Object.values(results).every((r) => r === 'ok')
      ? 'SERVING'
      : 'NOT_SERVING';
    for (const name of ['', ...SERVICE_NAMES]) health.setStatus(name, status);
  };
  await setHealth();
  const healthTimer = setInterval(() => void setHealth(), HEALTH_EVERY_MS);
  healthTimer.unref();

  const tls = config.http.tls !== undefined;
  const host = config.http.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host.includes(':') ? `[${host}]` : host}:${options.port ?? config.http.grpcPort}`,
      credentials(config.http.tls),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    );
  });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      clearInterval(healthTimer);
      for (const name of ['', ...SERVICE_NAMES]) health.setStatus(name, 'NOT_SERVING');
      endWatches();
      const timer = setTimeout(() => server.forceShutdown(), config.http.shutdownTimeoutMs);
      timer.unref();
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return closing;
  };
  return { address: `${host}:${port}`, port, tls, close };
}
