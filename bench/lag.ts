// Projection lag benchmark: how long after an append commits each projection
// has applied it, while appenders run at the accept benchmark's rate (an
// accepted event per send, followed by its submitted and delivered events).
//
//   node bench/lag.ts [--rate 1200] [--seconds 20] [--only audit_log,message_timelines]
//                     [--accepted-only]
//
// --accepted-only appends just the sms.accepted event of each send: the
// event load of the accept benchmark, which runs no dispatch.
//
// Lag of an event = when the projection's checkpoint passed its position
// minus when its append resolved (sampled every 2 ms in this process).
// Writes bench/results/lag.json (lag-accepted-only.json with --accepted-only). Target: p99 < 1 s.
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startProjectors } from '../projectors/index.ts';
import { accepted, benchReadSide, machine, outcomes } from './readSideLoad.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1200' },
    seconds: { type: 'string', default: '20' },
    only: { type: 'string' },
    'accepted-only': { type: 'boolean', default: false },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const side = await benchReadSide('lag');
const acceptedOnly = values['accepted-only'];
const only = values.only?.split(',').filter(Boolean);
const running = startProjectors(side.deps, only ? { only } : {});
try {
  while (running.projections.some((p) => !p.active)) await new Promise((r) => setTimeout(r, 20));
  const committed: { position: number; at: number }[] = [];
  const lags = running.projections.map(() => [] as number[]);
  const cursor = running.projections.map(() => 0);
  let sampling = true;
  const sampler = (async () => {
    while (sampling || cursor.some((c) => c < committed.length)) {
      const now = performance.now();
      running.projections.forEach((p, k) => {
        while (cursor[k]! < committed.length && committed[cursor[k]!]!.position <= p.position) {
          lags[k]!.push(now - committed[cursor[k]!]!.at);
          cursor[k]! += 1;
        }
      });
      await new Promise((r) => setTimeout(r, 2));
    }
  })();

  // open-loop load: `rate` sends per second, each an accepted event then its outcomes
  const started = performance.now();
  const pending: Promise<void>[] = [];
  let sent = 0;
  const record = (position: number) => {
    // appends resolve out of order across streams; keep the list sorted by position
    const at = performance.now();
    let i = committed.length;
    while (i > 0 && committed[i - 1]!.position > position) i--;
    committed.splice(i, 0, { position, at });
  };
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      const i = sent++;
      const id = randomUUID();
      pending.push(
        (async () => {
          const a = await side.deps.eventStore.append(
            `message-${id}`,
            [accepted(i, id)],
            'no_stream',
          );
          record(a.position);
          if (acceptedOnly) return;
          const o = await side.deps.eventStore.append(`message-${id}`, outcomes(id, i), 0);
          record(o.position);
        })(),
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  const head = await side.deps.eventStore.headPosition();
  await running.waitFor(head, 60_000);
  sampling = false;
  await sampler;

  const results: Record<string, unknown> = {};
  running.projections.forEach((p, k) => {
    const sorted = lags[k]!.sort((a, b) => a - b);
    results[p.id] = {
      samples: sorted.length,
      p50Ms: Math.round(percentile(sorted, 50)),
      p99Ms: Math.round(percentile(sorted, 99)),
      maxMs: Math.round(sorted[sorted.length - 1] ?? 0),
    };
    console.log(
      `${p.id}: p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms`,
    );
  });
  const out = {
    command: `node bench/lag.ts --rate ${rate} --seconds ${seconds}${only ? ` --only ${only.join(',')}` : ''}${acceptedOnly ? ' --accepted-only' : ''}`,
    at: new Date().toISOString(),
    machine: machine(),
    node: process.version,
    sends: sent,
    sendsPerSecond: Math.round(sent / seconds),
    events: head,
    results,
    target: 'p99 < 1000 ms',
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL(`./results/lag${acceptedOnly ? '-accepted-only' : ''}.json`, import.meta.url),
    `${JSON.stringify(out, null, 2)}\n`,
  );
} finally {
  await running.close();
  await side.drop();
}
