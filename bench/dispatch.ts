// End-to-end dispatch throughput: sms.accepted appended to the event store →
// relay → Kafka → dispatcher → simulator (about 5 ms latency) → receipt
// webhook → sms.delivered; and accept-to-submitted latency percentiles.
//   node bench/dispatch.ts [messages=5000]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { startProcessors } from '../processors/index.ts';
import { startHarness } from '../tests/dispatch/harness.ts';

const total = Number(process.argv[2] ?? 5000);
const h = await startHarness('bench', [
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
]);
const running = await startProcessors(h.deps);
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
  command: `node bench/dispatch.ts ${total}`,
  at: new Date().toISOString(),
  cpus: cpus().length,
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
