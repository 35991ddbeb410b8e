import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { StackConfig } from './config.ts';
import {
  capture,
  portOpen,
  runLogged,
  seconds,
  startDetached,
  StackError,
  ticking,
  which,
} from './proc.ts';
import type { Ctx, Needs, Service } from './service.ts';

function javaBin(): string | undefined {
  const home = process.env.JAVA_HOME;
  if (home) {
    const p = path.join(home, 'bin', 'java');
    if (fs.existsSync(p)) return p;
  }
  return which('java');
}

/** Major version from `java -version` output ("1.8.0_392" → 8, "17.0.15" → 17). */
export function javaMajor(versionOutput: string): number | undefined {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!m) return undefined;
  const major = Number(m[1]);
  return major === 1 ? Number(m[2]) : major;
}

/** A KRaft cluster id: 16 random bytes, base64url without padding, not starting with '-'. */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * kafkajs 2.2.4 calls setTimeout with a negative delay (requestQueue.scheduleCheckPendingRequests,
 * throttledUntil = -1), which Node 24 reports as TimeoutNegativeWarning on stderr. Harmless; hide
 * that one warning while our probe runs.
 */
let quiet = 0;
const emitWarning = process.emitWarning;
async function withoutNegativeTimeoutWarning<T>(fn: () => Promise<T>): Promise<T> {
  if (quiet++ === 0) {
    process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
      const name = typeof warning === 'string' ? rest[0] : warning.name;
      const type =
        typeof name === 'object' && name !== null ? (name as { type?: string }).type : name;
      if (type === 'TimeoutNegativeWarning') return;
      (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
    }) as typeof process.emitWarning;
  }
  try {
    return await fn();
  } finally {
    if (--quiet === 0) process.emitWarning = emitWarning;
  }
}

/** Where the Kafka of one stack keeps its jars, data, config and logs. */
function kafkaPaths(cfg: StackConfig) {
  const { port, controllerPort, version } = cfg.kafka;
  const home = path.join(cfg.dir, 'kafka');
  // A second stack (a test's private one) uses the jars of the default stack folder when that
  // has them, rather than fetching them again.
  const ownLib = path.join(home, `lib-${version}`);
  const sharedLib = path.join(cfg.root, '.stack', 'kafka', `lib-${version}`);
  const lib =
    !fs.existsSync(path.join(ownLib, '.complete')) &&
    fs.existsSync(path.join(sharedLib, '.complete'))
      ? sharedLib
      : ownLib;
  const libDone = path.join(lib, '.complete');
  const dataDir = path.join(home, 'data');
  const serverProps = path.join(home, 'server.properties');
  const log4j = path.join(home, 'log4j.properties');
  const toolsLog4j = path.join(home, 'tools-log4j.properties');
  const clusterIdFile = path.join(home, 'cluster-id');
  const logFile = path.join(home, 'server.log');
  const stdoutFile = path.join(home, 'kafka.out');
  const pidFile = path.join(cfg.dir, 'kafka.pid');
  const pom = path.join(cfg.root, 'stack', 'kafka', 'pom.xml');
  const classpath = `${lib}${path.sep}*`;

  return {
    cfg,
    home,
    lib,
    libDone,
    dataDir,
    serverProps,
    log4j,
    toolsLog4j,
    clusterIdFile,
    logFile,
    stdoutFile,
    pidFile,
    pom,
    classpath,
    port,
    controllerPort,
    version,
  };
}
type KafkaPaths = ReturnType<typeof kafkaPaths>;

function writeConfig(k: KafkaPaths): void {
  const { dataDir, serverProps, log4j, toolsLog4j, logFile, port, controllerPort, cfg } = k;
  fs.mkdirSync(dataDir, { recursive: true });
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${cfg.host}:${controllerPort}`,
    listeners: `PLAINTEXT://${cfg.host}:${port},CONTROLLER://${cfg.host}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${cfg.host}:${port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': dataDir,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'num.partitions': 4,
    'auto.create.topics.enable': true,
    'group.initial.rebalance.delay.ms': 0,
    // Idle is idle (issue 12): a request handler thread wakes every 300 ms
    // to look at the request queue and a network thread every 300 ms to
    // poll its sockets, whether or not anything came (both intervals are
    // fixed in Kafka). The defaults (8 and 3) are for a many-disk server;
    // one machine running everything serves its few clients with 2 each.
    'num.io.threads': 2,
    'num.network.threads': 2,
    // The controller's no-op metadata record every 500 ms (KIP-835) stays
    // at its default: at 30 s, clients that lost the broker in its restart
    // (the pump's consumer, the command's tracking publisher) had not
    // recovered several seconds after it was back (tests/faults).
  };
  fs.writeFileSync(
    serverProps,
    `# written by stack/kafka.ts on every start; edit stack/kafka.ts instead\n` +
      Object.entries(props)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') +
      '\n',
  );
  fs.writeFileSync(
    log4j,
    [
      'log4j.rootLogger=INFO, file',
      'log4j.appender.file=org.apache.log4j.RollingFileAppender',
      `log4j.appender.file.File=${logFile}`,
      'log4j.appender.file.MaxFileSize=20MB',
      'log4j.appender.file.MaxBackupIndex=3',
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.org.apache.kafka=INFO',
      'log4j.logger.kafka=INFO',
      'log4j.logger.kafka.request.logger=WARN',
      'log4j.logger.state.change.logger=WARN',
      'log4j.logger.org.apache.kafka.clients=WARN',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    toolsLog4j,
    [
      'log4j.rootLogger=WARN, stderr',
      'log4j.appender.stderr=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.appender.stderr.Target=System.err',
      '',
    ].join('\n'),
  );
}

function checkJars(k: KafkaPaths): void {
  const { lib, version } = k;
  const jar = path.join(lib, `kafka_2.13-${version}.jar`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(jar);
  } catch {
    throw new StackError(`kafka: ${jar} is missing after the Maven fetch`);
  }
  // zip central directory entries hold the names uncompressed
  for (const cls of ['kafka/Kafka.class', 'kafka/tools/StorageTool.class']) {
    if (!bytes.includes(cls)) throw new StackError(`kafka: ${jar} has no ${cls}`);
  }
}

async function fetchJars(k: KafkaPaths, ctx: Ctx): Promise<void> {
  const { home, lib, libDone, pom, version } = k;
  if (fs.existsSync(libDone)) return;
  const mvn = which('mvn') as string;
  const tmp = `${lib}.partial`;
  const fetchLog = path.join(home, 'fetch.log');
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(lib, { recursive: true, force: true });
  const t0 = Date.now();
  ctx.say(`fetching Kafka ${version} jars from Maven Central with mvn (first time: ~10-60 s)`);
  await ticking(
    ctx.say,
    'fetching jars',
    () =>
      runLogged(
        'mvn dependency:copy-dependencies',
        mvn,
        [
          '-q',
          '-B',
          '-f',
          pom,
          `-Dkafka.version=${version}`,
          `-Dkafka.lib.dir=${tmp}`,
          'dependency:copy-dependencies',
        ],
        fetchLog,
      ),
    fetchLog,
  );
  fs.renameSync(tmp, lib);
  checkJars(k);
  const jars = fs.readdirSync(lib).filter((f) => f.endsWith('.jar')).length;
  fs.writeFileSync(libDone, `${jars} jars\n`);
  ctx.say(`fetched ${jars} jars in ${seconds(t0)} s`);
}

async function formatOnce(k: KafkaPaths, ctx: Ctx): Promise<void> {
  const { home, dataDir, serverProps, toolsLog4j, clusterIdFile, classpath } = k;
  if (fs.existsSync(path.join(dataDir, 'meta.properties'))) return;
  let clusterId = fs.existsSync(clusterIdFile) ? fs.readFileSync(clusterIdFile, 'utf8').trim() : '';
  if (!clusterId) {
    clusterId = newClusterId();
    fs.writeFileSync(clusterIdFile, `${clusterId}\n`);
  }
  ctx.say(`formatting KRaft storage (cluster id ${clusterId})`);
  await runLogged(
    'kafka storage format',
    javaBin() as string,
    [
      `-Dlog4j.configuration=file:${toolsLog4j}`,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      serverProps,
    ],
    path.join(home, 'format.log'),
  );
}

/** Ready when the broker answers a cluster description with a broker in it and lists topics. */
function probe(k: KafkaPaths, timeoutMs: number): Promise<void> {
  const { cfg, port } = k;
  return withoutNegativeTimeoutWarning(async () => {
    const { Kafka, logLevel } = (await import('kafkajs')).default;
    const admin = new Kafka({
      clientId: 'streaming-stack',
      brokers: [`${cfg.host}:${port}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('no brokers registered yet');
      await admin.listTopics();
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  });
}

async function needs(k: KafkaPaths): Promise<Needs> {
  const { libDone, version } = k;
  const missing: string[] = [];
  const java = javaBin();
  if (!java) {
    missing.push('java not found (Kafka needs Java 17+): apt-get install openjdk-17-jre-headless');
  } else {
    const out = await capture(java, ['-version']).catch((e: { output?: string }) => e.output ?? '');
    const major = javaMajor(out);
    if (major === undefined || major < 17) {
      missing.push(
        `${java} is Java ${major ?? '?'} but Kafka ${version} needs Java 17+: apt-get install openjdk-17-jre-headless (or set JAVA_HOME)`,
      );
    }
  }
  if (!fs.existsSync(libDone) && !which('mvn')) {
    missing.push('mvn not found (needed once to fetch the Kafka jars): apt-get install maven');
  }
  return { debs: [], missing };
}

export function kafka(cfg: StackConfig): Service {
  const k = kafkaPaths(cfg);
  const { port, controllerPort, version, home, log4j, classpath, serverProps, logFile } = k;
  const { stdoutFile, pidFile } = k;
  return {
    name: 'kafka',
    port,
    marker: 'kafka.Kafka',
    pidFile,
    logFile,
    outFile: stdoutFile,
    readyTimeoutMs: 120_000,
    describe: () => `(KRaft, controller ${cfg.host}:${controllerPort}, Kafka ${version})`,

    probe: (timeoutMs: number): Promise<void> => probe(k, timeoutMs),
    needs: () => needs(k),
    async prepare(ctx: Ctx): Promise<void> {
      fs.mkdirSync(home, { recursive: true });
      await fetchJars(k, ctx);
      writeConfig(k);
      await formatOnce(k, ctx);
    },

    async start(ctx: Ctx) {
      if (await portOpen(cfg.host, controllerPort)) {
        throw new StackError(
          `kafka: controller port ${cfg.host}:${controllerPort} is already in use by another program (set STREAMING_STACK_KAFKA_CONTROLLER_PORT)`,
        );
      }
      ctx.say(`starting Kafka ${version} (KRaft) on ${cfg.host}:${port}`);
      return startDetached(
        javaBin() as string,
        [
          '-Xms512m',
          '-Xmx1g',
          // Serial GC: no concurrent refinement, marking or service threads
          // (G1's service thread alone woke 5 times a second while idle); a
          // young collection of this broker's mostly short-lived garbage
          // takes a few ms, which is what G1's 20 ms target allowed anyway
          '-XX:+UseSerialGC',
          // no hsperfdata sampling (the JVM's watcher thread woke every
          // 50 ms for it; only jstat/jps read it, and the stack finds its
          // processes by pid file and /proc cmdline)
          '-XX:-UsePerfData',
          // monitor deflation looks every 250 ms by default; every 10 s is
          // enough for a broker's few contended locks
          '-XX:+UnlockDiagnosticVMOptions',
          '-XX:AsyncDeflationInterval=10000',
          '-Djava.awt.headless=true',
          `-Dkafka.logs.dir=${home}`,
          `-Dlog4j.configuration=file:${log4j}`,
          '-cp',
          classpath,
          'kafka.Kafka',
          serverProps,
        ],
        { logFile: stdoutFile, pidFile, cwd: home },
      );
    },
  };
}
