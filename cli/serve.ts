// Runs streaming's components in this process: `streaming serve command query …`
// for one container per component, `streaming start` for all of them at once.
import type { Runtime } from './runtime.ts';
import { openRuntime } from './runtime.ts';
import { publishPipeline } from '../platform/health/index.ts';
import { onShutdown, shutdown } from '../platform/http/index.ts';
import { reportToSupervisor } from './supervisor.ts';
import {
  answerMetricsOverIpc,
  enableProcessMetrics,
  startMetricsServer,
} from '../platform/metrics/index.ts';

export interface Running {
  close(): Promise<void>;
}

type Starter = (rt: Runtime) => Promise<Running>;

/** The components, in start order (stopped in reverse). */
export const components: Record<string, Starter> = {
  async command(rt) {
    const { startCommandService } = await import('../command-service/index.ts');
    const { webhookRouter } = await import('../command-service/webhooks/index.ts');
    const service = await startCommandService(rt, {
      routers: [{ path: '/v1/webhooks', router: webhookRouter(rt) }],
    });
    rt.logger.info(`command API on ${service.url} (docs ${service.url}/docs)`);
    return service;
  },
  async projectors(rt) {
    const { startProjectors } = await import('../projectors/index.ts');
    const { watchProjectionLag } = await import('../projectors/metrics.ts');
    const { startEventMetrics } = await import('../platform/metrics/index.ts');
    const running = await startProjectors(rt);
    // the business counters are counted once, here, from the event store
    const eventMetrics = await startEventMetrics(rt.eventStore, rt.logger);
    const lag = watchProjectionLag(rt);
    rt.logger.info('projectors running');
    return {
      async close() {
        lag.close();
        await eventMetrics.close();
        await running.close();
      },
    };
  },
  async query(rt) {
    const { startQueryService } = await import('../query-service/index.ts');
    const service = await startQueryService(rt);
    rt.logger.info(`query API on ${service.url} (docs ${service.url}/docs)`);
    return service;
  },
  async grpc(rt) {
    const { startGrpcService } = await import('../grpc-service/index.ts');
    const service = await startGrpcService(rt);
    rt.logger.info(
      `gRPC API on ${service.address}${service.tls ? ' (TLS)' : ''} (streaming.v1; reflection and grpc.health.v1)`,
    );
    return service;
  },
  async processors(rt) {
    const { startProcessors } = await import('../processors/index.ts');
    const running = await startProcessors(rt);
    rt.logger.info('processors running: relay, dispatcher, timers, receipts');
    return running;
  },
  async callbacks(rt) {
    // its own process: its HTTP calls to tenants never share an event loop with dispatch
    const { startCallbacks } = await import('../processors/index.ts');
    const running = await startCallbacks(rt);
    rt.logger.info('callback sender running');
    return running;
  },
  async jobs(rt) {
    const { startJobs } = await import('../jobs/index.ts');
    const running = await startJobs(rt);
    rt.logger.info('jobs scheduler running: retention, sweeper');
    return running;
  },
  async pump(rt) {
    const { startPump } = await import('../pump/index.ts');
    const running = await startPump(rt);
    rt.logger.info('tracking pump running');
    return running;
  },
};

export const componentNames = Object.keys(components);

/**
 * Starts the named components on one shared runtime and returns a stop
 * function that closes them in reverse order, then the runtime.
 */
export async function serve(names: string[], service = 'streaming'): Promise<Running> {
  for (const name of names) {
    if (!components[name]) {
      throw new Error(`unknown component "${name}" (known: ${componentNames.join(', ')})`);
    }
  }
  const rt = await openRuntime({ service, tracking: true });
  const started: Running[] = [];
  try {
    for (const name of componentNames.filter((n) => names.includes(n))) {
      const running = await components[name]!(rt);
      started.push({
        async close() {
          const t0 = Date.now();
          await running.close();
          rt.logger.info(`${name} stopped`, { ms: Date.now() - t0 });
        },
      });
    }
  } catch (err) {
    for (const running of started.reverse()) await running.close().catch(() => undefined);
    await rt.close();
    throw err;
  }
  // the processors and projections of this process, for the whole system's /healthz/pipeline
  const published = publishPipeline(rt.redis, rt.pipeline, () => rt.eventStore.headPosition(), {
    process: service === 'streaming' ? names.join('+') : service,
    prefix: rt.config.redis.prefix,
  });
  return {
    async close() {
      await published.stop();
      for (const running of [...started].reverse()) {
        await running.close().catch((err: unknown) => rt.logger.error('stop failed', { err }));
      }
      await rt.close();
    },
  };
}

/** serve() until SIGINT/SIGTERM. */
export async function serveForever(names: string[]): Promise<void> {
  const processName = names.join('+');
  enableProcessMetrics(processName);
  const running = await serve(names, names.length === 1 ? names[0] : 'streaming');
  // under npm start the supervisor asks over IPC; alone, this process serves its own
  let metricsServer: { close(): Promise<void> } | undefined;
  if (process.send) {
    answerMetricsOverIpc();
  } else {
    const { loadConfig } = await import('../platform/config/index.ts');
    const config = loadConfig();
    if (config.metrics.port > 0) {
      metricsServer = await startMetricsServer({
        host: config.http.host,
        port: config.metrics.port,
      });
    }
  }
  onShutdown(async () => {
    await metricsServer?.close();
    await running.close();
  });
  reportToSupervisor(() => void shutdown('supervisor gone').then(() => process.exit()));
}
