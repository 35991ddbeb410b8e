// `npm start`: the local stack, then the supplier simulator and every
// component as supervised child processes (one command, logs on the
// terminal, every core used). Ctrl-C stops everything it started, including
// the stack services that were not running before; a child that dies is
// restarted.
import { loadConfig, type Config } from '../platform/config/index.ts';
import { ignoreRepeatedSignals, onShutdown, shutdown } from '../platform/http/index.ts';
import path from 'node:path';
import {
  SERVICE_NAMES,
  portOpen,
  stack,
  stackConfig,
  stackPids,
  type ServiceName,
} from '../stack/index.ts';
import { lowerRunning, startChildren, supervise } from './supervisor.ts';
import {
  aggregatedMetrics,
  enableProcessMetrics,
  startMetricsServer,
  type MetricsServer,
} from '../platform/metrics/index.ts';

async function downServices(): Promise<ServiceName[]> {
  const down: ServiceName[] = [];
  for (const name of SERVICE_NAMES) {
    const code = await stack('status', { services: [name], print: () => undefined });
    if (code !== 0) down.push(name);
  }
  return down;
}

/** The stack services no send waits on. */
const BACKGROUND_SERVICES: ServiceName[] = ['kafka', 'ferretdb'];

/**
 * The ports npm start serves on, checked before anything starts: a second
 * npm start (or another program on a port) is told so in one line, and
 * starts nothing, rather than half starting and leaving background children
 * that join the first system's work.
 */
async function checkPorts(config: Config): Promise<void> {
  const wanted: Array<[string, number, string]> = [
    ['command API', config.http.commandPort, 'STREAMING_COMMAND_PORT'],
    ['query API', config.http.queryPort, 'STREAMING_QUERY_PORT'],
    ['gRPC API', config.http.grpcPort, 'STREAMING_GRPC_PORT'],
    ['simulator', config.http.simulatorPort, 'STREAMING_SIMULATOR_PORT'],
    ...(config.metrics.port > 0
      ? [['metrics', config.metrics.port, 'STREAMING_METRICS_PORT'] as [string, number, string]]
      : []),
  ];
  const taken: string[] = [];
  for (const [what, port, variable] of wanted) {
    if (await portOpen(config.http.host, port)) taken.push(`${port} (${what}, ${variable})`);
  }
  if (taken.length > 0) {
    throw Object.assign(
      new Error(
        `${config.http.host}: ${taken.length > 1 ? 'ports' : 'port'} ${taken.join(', ')} already in use. Is streaming already running? Stop it (Ctrl-C where it runs), or choose other ports.`,
      ),
      { code: 'PORT_IN_USE' },
    );
  }
}

/**
 * Under npm (`npm start`): when npm goes, so does the system it started.
 * npm passes its SIGINT and SIGTERM on to the script (which execs this
 * process, so they arrive here), but a killed npm (SIGKILL, an OOM kill)
 * passes nothing: this process is then reparented, which it sees within a
 * second, and stops as on SIGTERM. Run directly (`node cli/main.ts start`,
 * `streaming start`) it keeps running however its parent ends.
 */
function stopWithNpm(): void {
  if (process.env.npm_lifecycle_event !== 'start') return;
  // a terminal's Ctrl-C reaches npm and this process; npm passes it on again
  ignoreRepeatedSignals(1_000);
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    console.log(`streaming: npm (pid ${parent}) is gone; stopping…`);
    void shutdown('npm gone').then(() => process.exit(process.exitCode ?? 0));
  }, 1_000);
  watch.unref();
}

export async function start(options: { stack: boolean }): Promise<void> {
  const config = loadConfig();
  await checkPorts(config);
  stopWithNpm();
  const startedServices = options.stack ? await downServices() : [];
  if (options.stack) {
    console.log('streaming: starting the local stack (npm run stack -- up)…');
    const code = await stack('up');
    if (code !== 0) throw new Error('the local stack did not come up; see the lines above');
  }
  // Kafka and FerretDB of the local stack serve the background children
  // (relay, dispatch, projections, the pump) and a few query API reads (a
  // message's timeline, supplier minutes), never a send: while the system
  // runs they are at the background niceness too, so that when the cores are
  // busy the command API and the MariaDB and Redis it waits on come first.
  const restorePriorities = options.stack
    ? Object.entries(stackPids({ services: BACKGROUND_SERVICES })).map(([name, pid]) =>
        lowerRunning(name, pid, config.start.backgroundNice),
      )
    : [];

  // the simulator stands in for the vendors, who do not forget a review: its
  // signatures and templates live in the stack's data folder, so that a
  // template approved before a restart (of npm start or of the simulator
  // child) is still approved after it
  process.env.STREAMING_SIMULATOR_CATALOG ||= path.join(
    stackConfig().dir,
    'simulator',
    'catalog.json',
  );
  const children = supervise(startChildren, { backgroundNice: config.start.backgroundNice });
  // one scrape for the system: this process asks each child for its metrics
  enableProcessMetrics('supervisor');
  let metrics: MetricsServer | undefined;
  if (config.metrics.port > 0) {
    metrics = await startMetricsServer({
      host: config.http.host,
      port: config.metrics.port,
      text: () => aggregatedMetrics(() => children.children()),
    });
  }
  onShutdown(async () => {
    console.log('streaming: stopping…');
    await metrics?.close();
    await children.stop();
    for (const restore of restorePriorities) restore();
    if (startedServices.length > 0) {
      console.log(
        `streaming: stopping the stack services it started: ${startedServices.join(', ')}`,
      );
      await stack('down', { services: startedServices });
    }
  });
  await children.ready;
  console.log(
    [
      '',
      'streaming is running:',
      `  command API  http://${config.http.host}:${config.http.commandPort}  (docs: /docs)`,
      `  query API    http://${config.http.host}:${config.http.queryPort}  (docs: /docs)`,
      `  gRPC API     ${config.http.host}:${config.http.grpcPort}  (streaming.v1, reflection: grpcurl -plaintext ${config.http.host}:${config.http.grpcPort} list)`,
      `  simulator    http://${config.http.host}:${config.http.simulatorPort}  (admin: /admin/accounts)`,
      `  console      http://${config.http.host}:${config.http.queryPort}/console`,
      ...(metrics ? [`  metrics      ${metrics.url}/metrics  (every process, one scrape)`] : []),
      `  processes    ${Object.entries(children.pids())
        .map(([name, pid]) => `${name} ${pid}`)
        .join(', ')}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
}
