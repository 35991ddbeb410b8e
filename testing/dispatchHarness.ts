// A whole dispatch path for one test file: a fresh MySQL database with the
// event store, a Redis key prefix, own Kafka topic and group, the supplier
// simulator and the webhooks on ephemeral ports.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { webhookRouter } from '../command-service/webhooks/index.ts';
import { messageDecider, type MessageEvent, type MessageState } from '../domain/messages/index.ts';
import { createKafka } from '../platform/clients/index.ts';
import { loadConfig, type Config } from '../platform/config/index.ts';
import { MysqlEventStore, recorded, type Subscription } from '../platform/eventStore/index.ts';
import { createHttpApp, finishHttpApp, startHttpServer } from '../platform/http/index.ts';
import type { RunningHttpServer } from '../platform/http/index.ts';
import { createLogger, type Logger } from '../platform/logger/index.ts';
import { noTracker, type Tracker, type TrackInput } from '../platform/tracking/index.ts';
import type { ProcessorDeps, ProcessorOptions } from '../processors/index.ts';
import { startSimulator, type AccountSpec } from '../simulator/server.ts';
import { freshDatabase, type TestDatabase } from './mysql.ts';

export const REDIS_URL = 'redis://127.0.0.1:6379/2';

/** Statuses with no more dispatch work (expired may still be closed by a late receipt). */
const FINAL = ['delivered', 'undelivered', 'failed', 'expired'];

export interface SimAccountDef {
  id: string;
  vendor: 'aliyun' | 'tencent';
  behaviour?: AccountSpec;
  maxPerSecond?: number;
  timeoutMs?: number;
}

export interface Harness {
  db: TestDatabase;
  eventStore: MysqlEventStore;
  redis: Redis;
  kafka: Kafka;
  logger: Logger;
  config: Config;
  /** The environment the config was loaded from (for child processes). */
  env: Record<string, string>;
  sim: HarnessSimulator;
  webhooks: RunningHttpServer;
  options: Partial<ProcessorOptions>;
  deps: ProcessorDeps;
  /** Current state of every message seen, folded from the event store. */
  states: Map<string, MessageState>;
  accept(count: number, extra?: { kind?: 'notification' | 'verification' }): Promise<string[]>;
  waitFinal(ids: readonly string[], timeoutMs: number): Promise<void>;
  admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  received(): Promise<Record<string, number>>;
  /** Tracking events the processors emitted (their tracker records them here). */
  tracked: TrackInput[];
  close(): Promise<void>;
}

/** The simulator as the harness drives it (in this process or a child process). */
export interface HarnessSimulator {
  url: string;
  /** Resolves when no receipt push is queued or in flight (in-process simulator only). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /**
   * Run the simulator as its own process (node simulator/main.ts), as a
   * vendor is remote: its CPU is then not the dispatcher's (benchmarks).
   */
  simulatorProcess?: boolean;
  /** STREAMING_* settings over the harness's own (e.g. a private broker's STREAMING_KAFKA_BROKERS). */
  env?: Record<string, string>;
}

/** simulator/main.ts on a free port; resolves once it listens. */
async function spawnSimulator(): Promise<HarnessSimulator> {
  const main = fileURLToPath(new URL('../simulator/main.ts', import.meta.url));
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, SIMULATOR_PORT: '0', SIMULATOR_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`simulator exited (${code}) before listening`)));
  });
  child.stdout.resume();
  return {
    url,
    idle: () => Promise.reject(new Error('idle() needs the in-process simulator')),
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The webhook secret of a harness account (in its receipt and inbound URLs). */
export const secret = (id: string) => `whsec-${id}-0123456789abcdef`;

type SupplierDef = ReturnType<typeof supplierOf>;

/** The supplier account the platform is configured with for a simulator account. */
function supplierOf(a: SimAccountDef, simUrl: string) {
  return {
    id: a.id,
    vendor: a.vendor,
    // both vendors' APIs answer at the root, as on their own hosts
    endpoint: `${simUrl}/`,
    accessKeyId: `${a.id}-key`,
    accessKeySecret: `${a.id}-secret`,
    signName: 'streaming',
    webhookSecret: secret(a.id),
    ...(a.vendor === 'tencent' ? { smsSdkAppId: '1400009999' } : {}),
    maxPerSecond: a.maxPerSecond ?? 100_000,
    timeoutMs: a.timeoutMs ?? 5_000,
  };
}

/** The webhooks (receipts, inbound) on an ephemeral port. */
async function startWebhooks(
  config: Config,
  logger: Logger,
  eventStore: MysqlEventStore,
  redis: Redis,
  redisPrefix: string,
): Promise<RunningHttpServer> {
  const app = createHttpApp({
    config,
    logger,
    name: 'webhooks-test',
    readiness: async () => ({}),
  });
  app.use(
    '/v1/webhooks',
    webhookRouter({ config, logger, eventStore, redis, tracker: noTracker, redisPrefix }),
  );
  finishHttpApp(app);
  return startHttpServer(app, { host: '127.0.0.1', port: 0, shutdownTimeoutMs: 1_000 });
}

async function putJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The account at the simulator, pushing to our webhooks, with the signature and template approved. */
async function seedAccount(
  simUrl: string,
  webhooksUrl: string,
  a: SimAccountDef,
  s: SupplierDef,
): Promise<void> {
  const res = await putJson(`${simUrl}/admin/accounts/${a.id}`, {
    vendor: a.vendor,
    accessKeyId: s.accessKeyId,
    accessKeySecret: s.accessKeySecret,
    ...(a.vendor === 'tencent' ? { appId: '1400009999' } : {}),
    receiptUrl: `${webhooksUrl}/v1/webhooks/${a.vendor}/receipts?token=${secret(a.id)}`,
    inboundUrl: `${webhooksUrl}/v1/webhooks/${a.vendor}/inbound?token=${secret(a.id)}`,
    ...a.behaviour,
  });
  if (!res.ok) throw new Error(`simulator account ${a.id}: ${res.status} ${await res.text()}`);
  // approved at the vendor: the signature and the template accept() sends with
  const seeds: [string, unknown][] = [
    ['/signatures/streaming', {}],
    [
      '/templates/SMS_0001',
      { content: a.vendor === 'aliyun' ? 'order ${order} shipped' : 'order {1} shipped' },
    ],
  ];
  for (const [path, body] of seeds) {
    const seeded = await putJson(`${simUrl}/admin/accounts/${a.id}${path}`, body);
    if (!seeded.ok) throw new Error(`simulator seed ${path}: ${seeded.status}`);
  }
}

/** Every message's state, folded from the store as it grows; watchers hear of each batch. */
function followStates(eventStore: MysqlEventStore) {
  const states = new Map<string, MessageState>();
  const watchers = new Set<() => void>();
  const sub: Subscription = eventStore.subscribe({
    after: 0,
    batchSize: 1000,
    onEvents: async (events) => {
      for (const e of events) {
        if (!e.streamId.startsWith('message-')) continue;
        const id = e.streamId.slice('message-'.length);
        const prev = states.get(id) ?? messageDecider.initialState();
        states.set(id, messageDecider.evolve(prev, recorded<MessageEvent>(e)));
      }
      for (const w of watchers) w();
    },
  });
  return { states, watchers, sub };
}

/** A tracker that keeps what it is given. */
function recordingTracker(tracked: TrackInput[]): Tracker {
  return {
    track: (e) => void tracked.push(e),
    flush: async () => undefined,
    close: async () => undefined,
    stats: () => ({ buffered: 0, dropped: 0, sent: tracked.length }),
  };
}

/** sms.accepted of message number `n` (the number gives its mobile and content). */
function accepted(messageId: string, n: string, accounts: SimAccountDef[]) {
  return {
    type: 'sms.accepted.v1',
    data: {
      messageId,
      tenantId: 'tenant-1',
      templateId: 'tpl-1',
      templateCode: 'SMS_0001',
      kind: 'notification',
      mobile: `+86139${n}`,
      content: `【streaming】order ${n} shipped`,
      params: { order: n },
      segments: 1,
      encoding: 'UCS-2',
      suppliers: accounts.map((a) => a.id),
      requestHash: `h-${messageId}`,
      acceptedAt: new Date().toISOString(),
    },
  };
}

const isFinalIn = (states: Map<string, MessageState>, id: string) => {
  const s = states.get(id);
  return s?.exists === true && FINAL.includes(s.status);
};

/** `count` messages accepted, as the command service would append them; their ids. */
async function acceptMessages(
  eventStore: MysqlEventStore,
  accounts: SimAccountDef[],
  nextSeq: () => number,
  count: number,
): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  await Promise.all(
    ids.map((messageId) =>
      eventStore.append(
        `message-${messageId}`,
        [accepted(messageId, String(nextSeq()).padStart(8, '0'), accounts)],
        'no_stream',
      ),
    ),
  );
  return ids;
}

/** Resolves when every message is final; rejects after timeoutMs naming some that are not. */
function waitFinal(
  follow: ReturnType<typeof followStates>,
  ids: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const { states, watchers } = follow;
  const done = () => ids.every((id) => isFinalIn(states, id));
  return new Promise<void>((resolve, reject) => {
    if (done()) return resolve();
    const timer = setTimeout(() => {
      watchers.delete(check);
      const open = ids.filter((id) => !isFinalIn(states, id));
      const sample = open
        .slice(0, 5)
        .map(
          (id) =>
            `${id}:${states.get(id)?.exists ? (states.get(id) as { status: string }).status : 'none'}`,
        );
      reject(new Error(`${open.length} of ${ids.length} messages not final: ${sample.join(', ')}`));
    }, timeoutMs);
    const check = () => {
      if (!done()) return;
      clearTimeout(timer);
      watchers.delete(check);
      resolve();
    };
    watchers.add(check);
  });
}

/** Drops the test's Redis keys, topic and group. */
async function dropBrokerState(redis: Redis, kafka: Kafka, merged: Partial<ProcessorOptions>) {
  const keys = await redis.keys(`${merged.redisPrefix!}*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [merged.dispatchTopic!] }).catch(() => undefined);
  await admin.deleteGroups([merged.groupId!]).catch(() => undefined);
  await admin.disconnect();
}

/** The STREAMING_* environment of a harness (its child processes get the same). */
function harnessEnv(
  name: string,
  tag: string,
  dbUrl: string,
  accounts: SimAccountDef[],
  suppliers: SupplierDef[],
  extra: Record<string, string> | undefined,
): Record<string, string> {
  return {
    STREAMING_ENV: 'test',
    STREAMING_LOG_LEVEL: 'error',
    STREAMING_PASSWORD_SCRYPT_LOG_N: '12',
    STREAMING_MYSQL_URL: dbUrl,
    STREAMING_REDIS_URL: REDIS_URL,
    STREAMING_SUPPLIERS: JSON.stringify(suppliers),
    STREAMING_DEFAULT_SUPPLIERS: accounts.map((a) => a.id).join(','),
    STREAMING_KAFKA_CLIENT_ID: `t-${name}-${tag}`,
    ...extra,
  };
}

/** The harness's own topic, group and Redis prefix, and timings short enough for tests. */
function harnessOptionsOf(
  name: string,
  tag: string,
  options: Partial<ProcessorOptions>,
): Partial<ProcessorOptions> {
  return {
    dispatchTopic: `t.dispatch.${name}.${tag}`,
    groupId: `t-dispatcher-${name}-${tag}`,
    redisPrefix: `t:${tag}:`,
    retryBaseMs: 200,
    retryMaxMs: 2_000,
    reconcileDelayMs: 500,
    // believe a "not found" at once unless a test is about the query's lag
    reconcileWindowMs: 0,
    breakerCooldownMs: 1_000,
    pollMs: 100,
    ...options,
  };
}

/** A call to the simulator's admin API; its JSON answer. */
function simAdmin(simUrl: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${simUrl}/admin${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return (await res.json()) as Record<string, unknown>;
  };
}

export async function startHarness(
  name: string,
  accounts: SimAccountDef[],
  options: Partial<ProcessorOptions> = {},
  harnessOptions: HarnessOptions = {},
): Promise<Harness> {
  const tag = randomBytes(4).toString('hex');
  const db = await freshDatabase(name, 64);
  const eventStore = await MysqlEventStore.create(db.pool, { pollIntervalMs: 20 });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const logger = createLogger({ logLevel: (process.env.TEST_LOG_LEVEL as 'warn') ?? 'error' });
  const sim: HarnessSimulator = harnessOptions.simulatorProcess
    ? await spawnSimulator()
    : await startSimulator({ port: 0 });
  const suppliers = accounts.map((a) => supplierOf(a, sim.url));
  const env = harnessEnv(name, tag, db.url, accounts, suppliers, harnessOptions.env);
  const config = loadConfig(env);
  const kafka = createKafka(config);
  const merged = harnessOptionsOf(name, tag, options);
  const webhooks = await startWebhooks(config, logger, eventStore, redis, merged.redisPrefix!);
  for (const a of accounts)
    await seedAccount(
      sim.url,
      webhooks.url,
      a,
      suppliers.find((x) => x.id === a.id)!,
    );

  const follow = followStates(eventStore);
  const tracked: TrackInput[] = [];
  const deps: ProcessorDeps = {
    config,
    logger,
    eventStore,
    mysql: db.pool,
    redis,
    kafka,
    tracker: recordingTracker(tracked),
    options: merged,
  };

  const admin = simAdmin(sim.url);

  let seq = 0;
  return {
    db,
    eventStore,
    redis,
    kafka,
    logger,
    config,
    env,
    sim,
    webhooks,
    options: merged,
    deps,
    states: follow.states,
    admin,
    tracked,
    async received() {
      const r = (await admin('GET', '/received')) as { byMessageId: Record<string, number> };
      return r.byMessageId;
    },
    accept: (count) => acceptMessages(eventStore, accounts, () => seq++, count),
    waitFinal: (ids, timeoutMs) => waitFinal(follow, ids, timeoutMs),
    async close() {
      await follow.sub.stop();
      await webhooks.close();
      await sim.close();
      await dropBrokerState(redis, kafka, merged);
      redis.disconnect();
      await eventStore.close();
      await db.drop();
    },
  };
}

/** Messages of a given status. */
export function withStatus(
  states: Map<string, MessageState>,
  ids: readonly string[],
  status: string,
) {
  return ids.filter((id) => {
    const s = states.get(id);
    return s?.exists === true && s.status === status;
  });
}
