// kafkajs against @platformatic/kafka, side by side in one run, in the
// shapes streaming uses them:
//
//   node bench/kafkaClients.ts [--records 50000] [--rounds 2]
//
// publish: the relay's shape, through the bus port (platform/bus, each
// client behind it) — an idempotent producer, acks from every
// in-sync replica, one awaited send of 500 records (key = message id, value
// = the relay's JSON) after the other, into a 32-partition topic.
// consume: the dispatcher's shape — a consumer group reading that topic from
// the beginning, every partition at once, offsets committed as it goes;
// timed from creating the consumer (connect, group join) to the last record.
// Each client runs in a child process of its own, alternately, `--rounds`
// times; reported: records/s, CPU ms per 1,000 records, and the sockets and
// timers still open after the client was closed (a leak keeps a process
// alive). Brokers: STREAMING_KAFKA_BROKERS. Writes bench/results/kafkaClients.json.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Admin,
  Consumer as PConsumer,
  MessagesStreamModes,
  stringDeserializers,
} from '@platformatic/kafka';
import { createPublisher, type PublisherClient } from '../platform/bus/index.ts';
import { createKafka } from '../platform/clients/index.ts';
import { loadConfig, type Config } from '../platform/config/index.ts';
import { createConsumer, ensureTopics } from '../platform/kafka/index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const PARTITIONS = 32;
const BATCH = 500;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

type Client = 'kafkajs' | '@platformatic/kafka';

interface Phase {
  recordsPerSecond: number;
  cpuMsPer1000: number;
  /** consume: from creating the consumer to its first record (connect and group join). */
  msToFirstRecord?: number;
}
interface ChildResult {
  client: Client;
  publish: Phase;
  consume: Phase;
  openAfterClose: Record<string, number>;
}

const records = (n: number) =>
  Array.from({ length: n }, () => {
    const messageId = randomUUID();
    return { key: messageId, value: JSON.stringify({ messageId, cause: 'accepted', position: 1 }) };
  });

async function measure(count: number, work: () => Promise<void>): Promise<Phase> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    recordsPerSecond: Math.round(count / seconds),
    cpuMsPer1000: Math.round(((cpu.user + cpu.system) / 1000 / count) * 1000 * 10) / 10,
  };
}

/** From creating the consumer (connect, join, fetch) to the last record. */
function phaseSince(count: number, t0: number, cpu0: NodeJS.CpuUsage, joinMs: number): Phase {
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    recordsPerSecond: Math.round(count / seconds),
    cpuMsPer1000: Math.round(((cpu.user + cpu.system) / 1000 / count) * 1000 * 10) / 10,
    msToFirstRecord: Math.round(joinMs),
  };
}

function openHandles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of process.getActiveResourcesInfo()) out[h] = (out[h] ?? 0) + 1;
  return out;
}

/** The relay's publishing, through the bus port (platform/bus) on the given client. */
async function publishThroughPort(
  config: Config,
  client: PublisherClient,
  topic: string,
  n: number,
): Promise<Phase> {
  const data = records(n);
  const publisher = createPublisher(config, { name: 'bench', client });
  const phase = await measure(n, async () => {
    for (let i = 0; i < n; i += BATCH) await publisher.publish(topic, data.slice(i, i + BATCH));
  });
  await publisher.close();
  return phase;
}

async function runKafkajs(topic: string, n: number): Promise<Omit<ChildResult, 'client'>> {
  const config = loadConfig(process.env);
  const kafka = createKafka(config);
  await ensureTopics(kafka, [{ topic, numPartitions: PARTITIONS }]);
  const publish = await publishThroughPort(config, 'kafkajs', topic, n);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const consumer = await createConsumer(kafka, { groupId: `bench-${topic}` });
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  let started!: () => void;
  const first = new Promise<void>((r) => (started = r));
  void consumer.run({
    autoCommit: true,
    autoCommitInterval: 1_000,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: PARTITIONS,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      started();
      seen += batch.messages.length;
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
      await heartbeat();
      if (seen >= n) done();
    },
  });
  await first;
  const joinMs = performance.now() - t0;
  await all;
  const consume = phaseSince(n, t0, cpu0, joinMs);
  await consumer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await new Promise((r) => setTimeout(r, 1_000));
  return { publish, consume, openAfterClose: openHandles() };
}

async function runPlatformatic(topic: string, n: number): Promise<Omit<ChildResult, 'client'>> {
  const config = loadConfig(process.env);
  const bootstrapBrokers = [...config.kafka.brokers];
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers });
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  const publish = await publishThroughPort(config, 'platformatic', topic, n);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const consumer = new PConsumer({
    clientId: 'bench-consumer',
    groupId: `bench-${topic}`,
    bootstrapBrokers,
    deserializers: stringDeserializers,
  });
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: 'earliest',
    autocommit: 1_000,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxWaitTime: 500,
  });
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  let started!: () => void;
  const first = new Promise<void>((r) => (started = r));
  stream.on('data', () => {
    started();
    if (++seen >= n) done();
  });
  await first;
  const joinMs = performance.now() - t0;
  await all;
  const consume = phaseSince(n, t0, cpu0, joinMs);
  await stream.close();
  await consumer.close();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.close();
  await new Promise((r) => setTimeout(r, 1_000));
  return { publish, consume, openAfterClose: openHandles() };
}

async function child(client: Client, n: number): Promise<void> {
  const topic = `bench.kafka.${randomUUID().slice(0, 8)}`;
  const r = client === 'kafkajs' ? await runKafkajs(topic, n) : await runPlatformatic(topic, n);
  process.stdout.write(`RESULT ${JSON.stringify({ client, ...r })}\n`);
  // no process.exit: what stays open after close shows as a process that does not end
}

function runChild(client: Client, n: number): Promise<ChildResult & { exitedByItself: boolean }> {
  const p = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', client, '--records', String(n)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  p.stdout.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => {
    let result: ChildResult | undefined;
    let killer: NodeJS.Timeout | undefined;
    const poll = setInterval(() => {
      const m = /RESULT (.+)/.exec(out);
      if (m && !result) {
        result = JSON.parse(m[1]!) as ChildResult;
        killer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      }
    }, 100);
    p.once('exit', (code, signal) => {
      clearInterval(poll);
      if (killer) clearTimeout(killer);
      const m = /RESULT (.+)/.exec(out);
      if (!m) return reject(new Error(`${client} child failed (${code ?? signal})`));
      resolve({ ...(JSON.parse(m[1]!) as ChildResult), exitedByItself: signal === null });
    });
  });
}

async function main(): Promise<void> {
  const n = arg('records', 50_000);
  const rounds = arg('rounds', 2);
  const loadBefore = os.loadavg();
  const runs: (ChildResult & { exitedByItself: boolean })[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const client of ['kafkajs', '@platformatic/kafka'] as const) {
      const r = await runChild(client, n);
      console.log(JSON.stringify(r));
      runs.push(r);
    }
  }
  const figures = {
    command: `node bench/kafkaClients.ts --records ${n} --rounds ${rounds}`,
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, loadBefore, loadAfter: os.loadavg() },
    records: n,
    partitions: PARTITIONS,
    publishBatch: BATCH,
    runs,
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const file = path.join(here, 'results', 'kafkaClients.json');
  writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`written ${path.relative(process.cwd(), file)}`);
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) await child(process.argv[childAt + 1] as Client, arg('records', 50_000));
else await main();
