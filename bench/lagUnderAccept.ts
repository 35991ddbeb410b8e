// Projection lag while the accept benchmark's load runs for real: the command
// service and the projectors in their own processes (`streaming serve command`,
// `streaming serve projectors`), autocannon here sending POST /v1/messages,
// all on this machine's two cores.
//
//   node bench/lagUnderAccept.ts [--connections 64] [--duration 30]
//
// Every 50 ms this process reads each projection's checkpoint; an event's lag
// is the first reading at or past its position minus its append timestamp
// (so lags are over-stated by up to the 50 ms poll). Writes
// bench/results/lag-under-accept.json. Target: p99 < 1 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openRuntime } from '../cli/runtime.ts';
import { loadConfig } from '../platform/config/index.ts';
import { dropReadModelDatabases } from '../platform/readModels/index.ts';
import { projectionsStatus } from '../projectors/index.ts';
import { freshDatabase } from '../testing/mysql.ts';
import { machine } from './readSideLoad.ts';
import { approveTemplate } from '../testing/approvals.ts';
import { sendLoad } from './support.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '30' },
  },
});
const connections = Number(values.connections);
const duration = Number(values.duration);
const cli = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const port = 18380;
const base = `http://127.0.0.1:${port}`;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const db = await freshDatabase('lagacc');
const env = {
  ...process.env,
  STREAMING_MYSQL_URL: db.url,
  STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/streaming_bench_${randomBytes(4).toString('hex')}`,
  // a Redis database of its own, flushed at the end
  STREAMING_REDIS_URL: 'redis://127.0.0.1:6379/7',
  STREAMING_COMMAND_PORT: String(port),
  STREAMING_LOG_LEVEL: 'warn',
};
const rt = await openRuntime({ service: 'bench', config: loadConfig(env) });
const children: ChildProcess[] = [];
const serve = (component: string) => {
  const child = spawn(process.execPath, [cli, 'serve', component], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
};
try {
  serve('projectors');
  serve('command');
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error('the command service did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  // checkpoint readings, every 50 ms, until every projection has the head
  const samples: { at: number; positions: number[] }[] = [];
  let names: string[] = [];
  let loading = true;
  const poller = (async () => {
    for (;;) {
      const rows = await projectionsStatus(rt);
      names = rows.map((r) => r.projection);
      samples.push({ at: Date.now(), positions: rows.map((r) => r.position) });
      if (!loading && rows.every((r) => r.position >= r.head)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  let loadBefore: number[] = [];
  const vendors = new Map(rt.config.suppliers.map((a) => [a.id, a.vendor]));
  const result = await sendLoad(base, {
    connections,
    duration,
    beforeLoad: () => (loadBefore = machine().load),
    approve: async (code) => void (await approveTemplate(rt.eventStore, code, vendors)),
  });
  loading = false;
  await poller;

  // each event's lag per projection
  const lags = names.map(() => [] as number[]);
  let after = 0;
  const cursor = names.map(() => 0);
  for (;;) {
    const events = await rt.eventStore.readAll({ after, limit: 5000 });
    if (events.length === 0) break;
    for (const e of events) {
      const at = Date.parse(e.metadata.timestamp);
      names.forEach((_, k) => {
        while (cursor[k]! < samples.length && samples[cursor[k]!]!.positions[k]! < e.position) {
          cursor[k]! += 1;
        }
        const seen = samples[Math.min(cursor[k]!, samples.length - 1)]!;
        lags[k]!.push(Math.max(0, seen.at - at));
      });
    }
    after = events[events.length - 1]!.position;
  }
  const results: Record<string, unknown> = {};
  names.forEach((name, k) => {
    const sorted = lags[k]!.sort((a, b) => a - b);
    results[name] = {
      samples: sorted.length,
      p50Ms: Math.round(percentile(sorted, 50)),
      p99Ms: Math.round(percentile(sorted, 99)),
      maxMs: Math.round(sorted[sorted.length - 1] ?? 0),
    };
    console.log(
      `${name}: p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms`,
    );
  });
  const accepted = result['2xx'];
  console.log(
    `accepted ${accepted} sends in ${duration} s (${Math.round(accepted / duration)}/s), p99 ${result.latency.p99} ms`,
  );
  const out = {
    command: `node bench/lagUnderAccept.ts --connections ${connections} --duration ${duration}`,
    at: new Date().toISOString(),
    machine: { ...machine(), loadBefore },
    node: process.version,
    accepted,
    acceptedPerSecond: Math.round(accepted / duration),
    acceptLatencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    events: after,
    pollMs: 50,
    results,
    target: 'p99 < 1000 ms',
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/lag-under-accept.json', import.meta.url),
    `${JSON.stringify(out, null, 2)}\n`,
  );
} finally {
  for (const child of children) {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
  await rt.redis.flushdb();
  await dropReadModelDatabases(rt.mongo.db).catch(() => undefined);
  await rt.close();
  await db.drop();
}
