// End-to-end dispatch throughput: sms.accepted appended to the event store →
// relay → Kafka → dispatcher → simulator (about 5 ms latency) → receipt
// webhook → sms.delivered; and accept-to-submitted latency percentiles.
//   node bench/dispatch.ts [messages=5000] [--in-process-simulator] [--in-process-processors]
// As deployed, the processors (relay, timers, receipts, dispatcher) run as a
// service of their own (testing/dispatcherChild.ts with
// DISPATCH_CHILD_RUN=all), apart from the webhooks (here, with the harness)
// and from the vendor (the simulator, a process of its own). The flags put
// either into this process instead.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { relative } from 'node:path';
import { startProcessors } from '../processors/index.ts';
import { startHarness } from '../testing/dispatchHarness.ts';

const args = process.argv.slice(2);
const inProcess = args.includes('--in-process-simulator');
const processorsInProcess = args.includes('--in-process-processors');
const total = Number(args.find((a) => !a.startsWith('--')) ?? 5000);
const command = [
  process.argv0,
  ...process.execArgv,
  relative(process.cwd(), process.argv[1]!),
  ...args,
].join(' ');
const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
const h = await startHarness(
  'bench',
  [
    {
      id: 'bench-aliyun',
      vendor: 'aliyun',
      behaviour: { id: 'bench-aliyun', latencyMs: 5, pushBatchSize: 100 },
    },
    {
      id: 'bench-tencent',
      vendor: 'tencent',
      behaviour: { id: 'bench-tencent', latencyMs: 5, pushBatchSize: 100 },
    },
  ],
  {},
  { simulatorProcess: !inProcess },
);
const CHILD = new URL('../testing/dispatcherChild.ts', import.meta.url).pathname;

async function startChild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD], {
    env: {
      ...process.env,
      ...h.env,
      DISPATCH_OPTIONS: JSON.stringify(h.options),
      DISPATCH_CHILD_RUN: 'all',
      DISPATCH_CHILD_POOL: '64',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`processors exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  return child;
}

const running = processorsInProcess
  ? await startProcessors(h.deps)
  : await startChild().then((child) => ({
      async close() {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      },
    }));
// warm-up: group join, connections
await h.waitFinal(await h.accept(50), 60_000);

const started = performance.now();
const ids = await h.accept(total);
const acceptedMs = performance.now() - started;
await h.waitFinal(ids, 600_000);
const elapsedMs = performance.now() - started;

const latencies: number[] = [];
for (const id of ids) {
  const events = await h.eventStore.readStream(`message-${id}`);
  const a = events.find((e) => e.type === 'sms.accepted.v1');
  const s = events.find((e) => e.type === 'sms.submitted.v1');
  if (a && s) latencies.push(s.recordedAt.getTime() - a.recordedAt.getTime());
}
latencies.sort((x, y) => x - y);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
const delivered = ids.filter((id) => {
  const s = h.states.get(id);
  return s?.exists && s.status === 'delivered';
}).length;
const result = {
  benchmark: 'dispatch',
  command,
  at: new Date().toISOString(),
  cpus: cpus().length,
  loadAverageBefore: loadBefore,
  loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100),
  simulator: inProcess ? 'in this process' : 'own process',
  processors: processorsInProcess ? 'in this process' : 'own process',
  messages: total,
  delivered,
  simulatorLatencyMs: 5,
  appendAcceptedMs: Math.round(acceptedMs),
  acceptedToDeliveredSeconds: Math.round(elapsedMs) / 1000,
  throughputPerSecond: Math.round((total / elapsedMs) * 1000),
  acceptToSubmittedMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: latencies.at(-1) ?? NaN },
};
await running.close();
await h.close();
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/dispatch.json', import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
