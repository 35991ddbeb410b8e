// The whole system as users start it, under load.
//
//   node bench/system.ts [--cap <per-account msg/s>] [--connections 64]
//                        [--duration <s>] [--rate <req/s>] [--idle 10]
//                        [--drain-max 900] [--settle-max 180] [--cpu-prof]
//   node bench/system.ts --idle-only [--windows 3] [--idle 60]
//
// Runs `streaming stack up` (to know the services' pids), then
// `streaming start` — what `npm start` runs: the same CLI, its stack step
// (which finds the services up), its supervisor and children,
// the default configuration with the simulator and the default per-account
// caps (100/s) — on a fresh MySQL database, a flushed Redis database (index
// 12 of the configured server), a fresh Mongo database. It registers a
// tenant, creates a notification template without limits, and drives
// POST /v1/messages with autocannon from this process (same machine), random
// mobiles. It reports accepted/s and latency, submitted/s during the load and
// the time to drain afterwards, Redis commands (INFO commandstats) and SQL
// statements (SHOW GLOBAL STATUS) per accepted and per dispatched message,
// the CPU of every process during the load and during `--idle` seconds of
// idle afterwards (once the read models caught up: the first 2 s under 10%
// of one core, at most --settle-max s after the drain). With `--cap N` every account takes N/s and the run
// (default 60 s) reports the sustained end-to-end rate over its steady part
// (from 10 s in), with the backlog at its start and end.
//
// Writes bench/results/system.json (one entry per kind of run) and rewrites
// the block between the system-bench markers at the top of BENCHMARKS.md.
// Counts are server-wide: run it on a stack nobody else uses (a private one:
// STREAMING_STACK_* and STREAMING_* URLs, see stack/README.md), or on a quiet
// machine. `--cpu-prof` runs every child with --cpu-prof into
// bench/results/prof/.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import * as prettier from 'prettier';
import { defaultSupplierAccounts, loadConfig, redisPrefixOf } from '../platform/config/index.ts';
import { readSharedPipeline } from '../platform/health/index.ts';
import { dropReadModelDatabases } from '../platform/readModels/index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const cli = path.join(root, 'cli', 'main.ts');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const capArg = process.argv.includes('--cap') ? arg('cap', 100) : undefined;
// --idle-only: a short, light load (5 s at 100 req/s unless told), then
// --windows idle windows of --idle s (60 unless told), each with its load
// average; written to bench/results/idle.json, BENCHMARKS.md left alone
const idleOnly = flag('idle-only');
const connections = arg('connections', idleOnly ? 8 : 64);
const duration = arg('duration', idleOnly ? 5 : capArg === undefined ? 30 : 60);
const rate = process.argv.includes('--rate') ? arg('rate', 0) : idleOnly ? 100 : undefined;
const idleSeconds = arg('idle', idleOnly ? 60 : 10);
const idleWindows = arg('windows', idleOnly ? 3 : 1);
const drainMax = arg('drain-max', 900);
const settleMax = arg('settle-max', 180);
const cpuProf = flag('cpu-prof');
const REDIS_DB = 12;

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

// ---- CPU of processes, from /proc -------------------------------------------------

const TICK = 100; // USER_HZ on Linux

function procStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/** CPU ticks of pid and all its descendants. */
function treeTicks(pid: number): number {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const p = Number(name);
    if (!Number.isInteger(p)) continue;
    const s = procStat(p);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(p);
    children.set(s.ppid, list);
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    total += procStat(p)?.ticks ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

type Pids = Record<string, number>;
const SUPERVISOR = 'supervisor (npm start)';

function sampleCpu(pids: Pids): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    // the supervisor without its children, which are counted on their own
    out[name] =
      name === 'load generator (bench)'
        ? benchTicks()
        : name === SUPERVISOR
          ? (procStat(pid)?.ticks ?? 0)
          : treeTicks(pid);
  }
  return out;
}

/**
 * Times each process (its threads, not its children) went to sleep and was
 * woken (voluntary context switches): an idle process's timers and polls, as
 * a count that the machine's load does not blur as it does CPU figures.
 */
function wakeups(pids: Pids): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (name === 'load generator (bench)') continue;
    let n = 0;
    try {
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
        n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      }
    } catch {
      continue; // not running (or not ours to read)
    }
    out[name] = n;
  }
  return out;
}

function benchTicks(): number {
  const u = process.cpuUsage();
  return ((u.user + u.system) / 1e6) * TICK;
}

function cpuPercent(a: Record<string, number>, b: Record<string, number>, seconds: number) {
  const out: Record<string, number> = {};
  let total = 0;
  for (const k of Object.keys(b)) {
    const pct = (((b[k] ?? 0) - (a[k] ?? 0)) / TICK / seconds) * 100;
    out[k] = round(pct);
    if (k !== 'load generator (bench)') total += pct;
  }
  out['system total (without the load generator)'] = round(total);
  return out;
}

/**
 * CPU ms per message of each process over a window (a → b, `seconds` long),
 * less what the process uses when idle (`idlePercent`, measured afterwards).
 */
function cpuMsPer(
  a: Record<string, number>,
  b: Record<string, number>,
  idlePercent: Record<string, number>,
  seconds: number,
  messages: number,
) {
  const out: Record<string, number> = {};
  if (messages <= 0) return out;
  let total = 0;
  for (const k of Object.keys(b)) {
    const busy = (((b[k] ?? 0) - (a[k] ?? 0)) / TICK) * 1000;
    const ms = Math.max(0, busy - ((idlePercent[k] ?? 0) / 100) * seconds * 1000);
    out[k] = round(ms / messages, 3);
    if (k !== 'load generator (bench)') total += ms;
  }
  out['system total (without the load generator)'] = round(total / messages, 3);
  return out;
}

// ---- counters of the servers -------------------------------------------------------

async function redisStats(redis: Redis): Promise<Record<string, number>> {
  const text = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function sqlStats(conn: mysql.Connection): Promise<Record<string, number>> {
  const [rows] = await conn.query(
    "SHOW GLOBAL STATUS WHERE Variable_name = 'Questions' OR Variable_name LIKE 'Com\\_%'",
  );
  const out: Record<string, number> = {};
  for (const r of rows as { Variable_name: string; Value: string }[]) {
    const n = Number(r.Value);
    if (n > 0) out[r.Variable_name] = n;
  }
  return out;
}

/** b − a, without what the bench itself sent (ownRedis, ownSql), zero entries dropped. */
function delta(
  a: Record<string, number>,
  b: Record<string, number>,
  own: Record<string, number> = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0) - (own[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

const minus = (b: Record<string, number>, a: Record<string, number>) =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));

const sum = (m: Record<string, number>, skip: string[] = []) =>
  Object.entries(m).reduce((s, [k, v]) => (skip.includes(k) ? s : s + v), 0);

// ---- the run -----------------------------------------------------------------------

async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

interface Counts {
  accepted: number;
  submitted: number;
  delivered: number;
  failed: number;
}

async function main(): Promise<void> {
  const base = loadConfig(process.env);
  const tag = randomBytes(3).toString('hex');
  console.log('bench/system: streaming stack up …');
  if ((await run(['stack', 'up'], process.env)) !== 0) throw new Error('stack up failed');

  // a fresh database, Redis database and Mongo database
  const dbName = `streaming_bench_system_${tag}`;
  const mysqlUrl = new URL(base.mysql.url);
  const admin = await mysql.createConnection(base.mysql.url);
  await admin.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  mysqlUrl.pathname = `/${dbName}`;
  const redisUrl = new URL(base.redis.url);
  redisUrl.pathname = `/${REDIS_DB}`;
  const redis = new Redis(redisUrl.toString());
  await redis.flushdb();
  const mongoUrl = new URL(base.mongo.url);
  mongoUrl.pathname = `/streaming_bench_system_${tag}`;

  const simulatorUrl = `http://127.0.0.1:${base.http.simulatorPort}/`;
  const suppliers = defaultSupplierAccounts.map((a) => ({
    ...a,
    endpoint: simulatorUrl,
    ...(capArg !== undefined ? { maxPerSecond: capArg } : {}),
  }));
  const profDir = path.join(here, 'results', 'prof');
  if (cpuProf) mkdirSync(profDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STREAMING_MYSQL_URL: mysqlUrl.toString(),
    STREAMING_REDIS_URL: redisUrl.toString(),
    STREAMING_MONGO_URL: mongoUrl.toString(),
    STREAMING_SUPPLIERS: JSON.stringify(suppliers),
    STREAMING_LOG_LEVEL: process.env.STREAMING_LOG_LEVEL ?? 'warn',
    ...(cpuProf
      ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profDir}` }
      : {}),
  };

  // `start` as `npm start` runs it: its stack step finds the services up (and
  // so stops none of them afterwards) and lowers Kafka and FerretDB as it does
  // for a user
  console.log(`bench/system: streaming start (database ${dbName}) …`);
  const system: ChildProcess = spawn(process.execPath, [cli, 'start'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  system.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  });
  const systemExited = new Promise<number | null>((r) => system.once('exit', (c) => r(c)));
  const stopSystem = async () => {
    if (system.exitCode !== null || system.signalCode !== null) return;
    system.kill('SIGINT');
    await systemExited;
  };

  const sql = await mysql.createConnection(base.mysql.url);
  // counted on from the last call: only the events appended since (positions
  // are handed out under one lock, in commit order), so the bench's own
  // once-a-second progress query costs MariaDB the same late in a run as early
  const seen: Counts = { accepted: 0, submitted: 0, delivered: 0, failed: 0 };
  let seenTo = 0;
  // one at a time: the sampler and the drain loop both ask, and two reads of
  // the same range would count it twice
  let counting: Promise<unknown> = Promise.resolve();
  const counts = (): Promise<Counts> => {
    const next = counting.then(countOn, countOn);
    counting = next.catch(() => undefined);
    return next;
  };
  const countOn = async (): Promise<Counts> => {
    const [heads] = await sql.query(`SELECT position FROM \`${dbName}\`.es_position WHERE id = 1`);
    const to = Number((heads as { position: number }[])[0]?.position ?? 0);
    const [rows] = await sql.query(
      `SELECT type, COUNT(*) AS n FROM \`${dbName}\`.es_events
        WHERE type IN ('sms.accepted.v1','sms.submitted.v1','sms.delivered.v1','sms.failed.v1')
          AND position > ? AND position <= ?
        GROUP BY type`,
      [seenTo, to],
    );
    seenTo = Math.max(seenTo, to);
    const by = new Map((rows as { type: string; n: number }[]).map((r) => [r.type, Number(r.n)]));
    seen.accepted += by.get('sms.accepted.v1') ?? 0;
    seen.submitted += by.get('sms.submitted.v1') ?? 0;
    seen.delivered += by.get('sms.delivered.v1') ?? 0;
    seen.failed += by.get('sms.failed.v1') ?? 0;
    return { ...seen };
  };
  // what the bench itself sends, subtracted from the server-wide counters
  let ownSelects = 0;
  let ownShows = 0;
  const ownSql = () => ({
    Questions: ownSelects + ownShows,
    Com_select: ownSelects,
    Com_show_status: ownShows,
  });
  const countsCounted = async () => {
    ownSelects += 2;
    return counts();
  };
  const sqlCounters = async () => {
    ownShows++;
    return sqlStats(sql);
  };

  try {
    const api = `http://127.0.0.1:${base.http.commandPort}`;
    for (let i = 0; ; i++) {
      if (system.exitCode !== null) throw new Error(`streaming start exited: ${out.slice(-2000)}`);
      const ok = await fetch(`${api}/readyz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok && out.includes('streaming is running')) break;
      if (i > 600) throw new Error('the system did not become ready in 120 s');
      await sleep(200);
    }
    const pids: Pids = {};
    for (const m of out.matchAll(/streaming: started (\w+) \(pid (\d+)\)/g)) {
      pids[m[1]!] = Number(m[2]);
    }
    pids[SUPERVISOR] = system.pid!;
    const stackDir = process.env.STREAMING_STACK_DIR ?? path.join(root, '.stack');
    for (const svc of ['mariadb', 'redis', 'kafka', 'ferretdb']) {
      const file = path.join(stackDir, `${svc}.pid`);
      if (existsSync(file)) pids[svc] = Number(readFileSync(file, 'utf8').trim());
    }
    pids['load generator (bench)'] = process.pid;

    // tenant and template
    const username = `bench${tag}`;
    await post(`${api}/v1/users`, { username, password: 'benchmark password' });
    const { token } = (await post(`${api}/v1/sessions`, {
      username,
      password: 'benchmark password',
    })) as { token: string };
    // the signature and the template, reviewed by every simulated supplier
    // account, as the README's first request does: a send before the approvals
    // is refused with 422
    await post(`${api}/v1/signatures`, { name: 'Bench' }, token);
    const { templateCode } = (await post(
      `${api}/v1/templates`,
      {
        name: 'bench',
        kind: 'notification',
        signature: 'Bench',
        content: 'Order ${order} shipped.',
        policy: {},
      },
      token,
    )) as { templateCode: string };
    const queryApi = `http://127.0.0.1:${base.http.queryPort}`;
    const approved = async (path: string) => {
      const res = await fetch(`${queryApi}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return res.ok && (await res.text()).includes('"status":"approved"');
    };
    for (
      let i = 0;
      !(await approved(`/v1/templates/${templateCode}`)) || !(await approved('/v1/signatures'));
      i++
    ) {
      if (i > 300) throw new Error('the template and signature were not approved in 60 s');
      await sleep(200);
    }
    await sleep(2_000); // let the template's events settle through the projectors

    // the load, with a timeline of the event counts
    const loadBefore = os.loadavg();
    const redis0 = await redisStats(redis);
    const sql0 = await sqlCounters();
    const own0 = ownSql();
    const cpu0 = sampleCpu(pids);
    const t0 = Date.now();
    const timeline: ({ t: number } & Counts)[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const c = await countsCounted();
        timeline.push({ t: (Date.now() - t0) / 1000, ...c });
        await sleep(1_000);
      }
    })();
    const result = await autocannon({
      url: `${api}/v1/messages`,
      connections,
      duration,
      ...(rate ? { overallRate: rate } : {}),
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({
              templateCode,
              mobile: `13${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`,
              params: { order: randomBytes(4).toString('hex') },
            }),
          }),
        },
      ],
    });
    const loadSeconds = (Date.now() - t0) / 1000;
    const cpu1 = sampleCpu(pids);
    const redis1 = await redisStats(redis);
    const sql1 = await sqlCounters();
    const ownSql1 = ownSql();
    const atEnd = await countsCounted();
    const loadAfter = os.loadavg();

    // drain: until every accepted message was submitted or failed
    let drained: number | undefined;
    const drainStart = Date.now();
    let last = atEnd;
    while ((Date.now() - drainStart) / 1000 < drainMax) {
      last = await countsCounted();
      if (last.submitted + last.failed >= last.accepted) {
        drained = (Date.now() - drainStart) / 1000;
        break;
      }
      await sleep(500);
    }
    await sleep(3_000); // the receipts of the last ones
    sampling = false;
    await sampler;
    const redis2 = await redisStats(redis);
    const sql2 = await sqlCounters();
    const ownSql2 = ownSql();
    const final = await countsCounted();

    // settle: the read models may still be catching up after the drain; idle
    // is measured once every projection reports (through the shared pipeline
    // in Redis) that it has applied the event store's head, or a 2 s sample
    // shows under 10% of one core, or after --settle-max
    ownSelects++;
    const [headRows] = await sql.query(
      `SELECT position FROM \`${dbName}\`.es_position WHERE id = 1`,
    );
    const head = Number((headRows as { position: number }[])[0]?.position ?? 0);
    const caughtUp = async () => {
      const parts = await readSharedPipeline(redis, redisPrefixOf({ config: base })).catch(
        () => [],
      );
      const projections = parts.filter((p) => p.kind === 'projection' && p.state !== 'standby');
      return projections.length > 0 && projections.every((p) => (p.position ?? 0) >= head);
    };
    const settleStart = Date.now();
    let settled: number | undefined;
    while ((Date.now() - settleStart) / 1000 < settleMax) {
      const a = sampleCpu(pids);
      await sleep(2_000);
      const pct = cpuPercent(a, sampleCpu(pids), 2)['system total (without the load generator)']!;
      if (pct < 10 || (await caughtUp())) {
        settled = (Date.now() - settleStart) / 1000;
        break;
      }
    }
    // the reports are refreshed every 2 s: let the last batches' writes finish
    await sleep(2_000);
    const settledAt = Date.now();

    // idle: --windows windows of --idle s; the first one is the run's figure
    const idleWindow = async () => {
      const loadAt = os.loadavg();
      const cpuIdle0 = sampleCpu(pids);
      const wakeIdle0 = wakeups(pids);
      const redisIdle0 = await redisStats(redis);
      const sqlIdle0 = await sqlCounters();
      const ownIdle0 = ownSql();
      await sleep(idleSeconds * 1000);
      const cpuIdle1 = sampleCpu(pids);
      const wakeIdle1 = wakeups(pids);
      const redisIdle1 = await redisStats(redis);
      const sqlIdle1 = await sqlCounters();
      const ownSqlIdle1 = ownSql();
      return {
        cpuIdle0,
        cpuIdle1,
        wakeIdle0,
        wakeIdle1,
        redisIdle0,
        redisIdle1,
        sqlIdle0,
        sqlIdle1,
        ownIdle0,
        ownSqlIdle1,
        load: [loadAt, os.loadavg()].map((l) => l.map((n) => round(n, 2))),
      };
    };
    const windows: Awaited<ReturnType<typeof idleWindow>>[] = [];
    for (let w = 0; w < idleWindows; w++) {
      windows.push(await idleWindow());
      const last = windows[windows.length - 1]!;
      const pct = cpuPercent(last.cpuIdle0, last.cpuIdle1, idleSeconds);
      console.log(
        `bench/system: idle window ${w + 1}/${idleWindows} (${idleSeconds} s, load average ${last.load[0]![0]} → ${last.load[1]![0]}): ${Object.entries(
          pct,
        )
          .map(([k, v]) => `${k} ${v}%`)
          .join(', ')}`,
      );
    }
    const {
      cpuIdle0,
      cpuIdle1,
      wakeIdle0,
      wakeIdle1,
      redisIdle0,
      redisIdle1,
      sqlIdle0,
      sqlIdle1,
      ownIdle0,
      ownSqlIdle1,
    } = windows[0]!;
    const idleFigures = windows.map((w) => ({
      loadAverage: { before: w.load[0], after: w.load[1] },
      cpuPercentOfOneCore: cpuPercent(w.cpuIdle0, w.cpuIdle1, idleSeconds),
      wakeupsPerSecond: Object.fromEntries(
        Object.entries(w.wakeIdle1).map(([k, v]) => [
          k,
          round((v - (w.wakeIdle0[k] ?? 0)) / idleSeconds),
        ]),
      ),
      redisCommands: delta(w.redisIdle0, w.redisIdle1, { info: 1 }),
      sqlStatements: delta(w.sqlIdle0, w.sqlIdle1, minus(w.ownSqlIdle1, w.ownIdle0)),
    }));

    // figures
    const accepted = result['2xx'];
    const dispatched = final.submitted;
    const redisRun = delta(redis0, redis2, { info: 3 });
    const sqlRun = delta(sql0, sql2, minus(ownSql2, own0));
    const sqlDuringLoad = delta(sql0, sql1, minus(ownSql1, own0));
    const per = (n: number, d: number) => (d > 0 ? round(n / d, 2) : null);
    const steadyFrom = capArg !== undefined ? 10 : 0;
    const inLoad = timeline.filter((s) => s.t >= steadyFrom && s.t <= loadSeconds);
    const first = inLoad[0];
    const lastInLoad = inLoad[inLoad.length - 1];
    const span = first && lastInLoad ? lastInLoad.t - first.t : 0;
    const rateOf = (k: keyof Counts) =>
      first && lastInLoad && span > 0 ? round((lastInLoad[k] - first[k]) / span) : null;
    const figures = {
      command: `node bench/system.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
      at: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        loadBefore: loadBefore.map((n) => round(n, 2)),
        loadAfter: loadAfter.map((n) => round(n, 2)),
      },
      setup:
        'streaming start (supervisor + children) after streaming stack up; autocannon in the bench process on the same machine; default simulator accounts' +
        (capArg !== undefined
          ? `, each capped at ${capArg}/s`
          : ' at their default cap (100/s each)'),
      connections,
      durationSeconds: duration,
      ...(rate ? { offeredRate: rate } : {}),
      acceptedPerSecond: Math.round(accepted / result.duration),
      acceptedTotal: accepted,
      non2xx: result.non2xx,
      errors: result.errors,
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
      },
      duringLoad: {
        window:
          steadyFrom > 0
            ? `${steadyFrom} s to the end of the load (steady part)`
            : 'the whole load',
        acceptedPerSecond: rateOf('accepted'),
        submittedPerSecond: rateOf('submitted'),
        deliveredPerSecond: rateOf('delivered'),
        backlogAtStart: first ? first.accepted - first.submitted - first.failed : null,
        backlogAtEnd: lastInLoad
          ? lastInLoad.accepted - lastInLoad.submitted - lastInLoad.failed
          : null,
      },
      atEndOfLoad: atEnd,
      drainSeconds: drained === undefined ? null : round(drained),
      drainNote:
        drained === undefined
          ? `not drained after ${drainMax} s: ${last.accepted - last.submitted - last.failed} left`
          : undefined,
      final,
      settleSeconds: settled === undefined ? `still busy after ${settleMax} s` : round(settled),
      redis: {
        commandsPerAccepted: per(sum(redisRun), accepted),
        commandsPerDispatched: per(sum(redisRun), dispatched),
        byCommandPerDispatched: Object.fromEntries(
          Object.entries(redisRun)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => [k, per(v, dispatched)]),
        ),
        // the load's 30 s alone (accepting, plus what dispatch did meanwhile)
        commandsPerAcceptedDuringLoad: per(sum(delta(redis0, redis1, { info: 2 })), accepted),
        duringIdle: delta(redisIdle0, redisIdle1, { info: 1 }),
      },
      sql: {
        statementsPerAccepted: per(sqlRun.Questions ?? 0, accepted),
        statementsPerDispatched: per(sqlRun.Questions ?? 0, dispatched),
        byKindPerDispatched: Object.fromEntries(
          Object.entries(sqlRun)
            .filter(([k]) => k !== 'Questions')
            .sort((a, b) => b[1] - a[1])
            .slice(0, 12)
            .map(([k, v]) => [k, per(v, dispatched)]),
        ),
        statementsPerAcceptedDuringLoad: per(sqlDuringLoad.Questions ?? 0, accepted),
        duringIdle: delta(sqlIdle0, sqlIdle1, minus(ownSqlIdle1, ownIdle0)),
      },
      cpuPercentOfOneCore: {
        duringLoad: cpuPercent(cpu0, cpu1, loadSeconds),
        idle: cpuPercent(cpuIdle0, cpuIdle1, idleSeconds),
      },
      // per second of the idle window: how often each process woke up
      idleWakeupsPerSecond: Object.fromEntries(
        Object.entries(wakeIdle1).map(([k, v]) => [
          k,
          round((v - (wakeIdle0[k] ?? 0)) / idleSeconds),
        ]),
      ),
      // CPU time each process spent from the start of the load until the read
      // models settled, per accepted message: what a message costs, whatever
      // else shares the machine (contention inflates it a little)
      cpuMsPerMessage: cpuMsPer(
        cpu0,
        cpuIdle0,
        cpuPercent(cpuIdle0, cpuIdle1, idleSeconds),
        (settledAt - t0) / 1000,
        accepted,
      ),
      pids,
      timeline: timeline.map((s) => ({ ...s, t: round(s.t) })),
    };
    if (idleOnly) {
      const file = path.join(here, 'results', 'idle.json');
      mkdirSync(path.dirname(file), { recursive: true });
      const idle = {
        command: figures.command,
        at: figures.at,
        machine: figures.machine,
        setup: figures.setup,
        load: {
          acceptedTotal: accepted,
          dispatched,
          drainSeconds: figures.drainSeconds,
          settleSeconds: figures.settleSeconds,
        },
        idleSecondsPerWindow: idleSeconds,
        windows: idleFigures,
        pids,
      };
      console.log(JSON.stringify(idle, null, 2));
      writeFileSync(file, `${JSON.stringify(idle, null, 2)}\n`);
      console.log(`written ${path.relative(process.cwd(), file)}`);
      return;
    }
    console.log(JSON.stringify({ ...figures, timeline: `${timeline.length} samples` }, null, 2));
    const kind = capArg !== undefined ? `cap${capArg}` : 'default';
    const file = path.join(here, 'results', 'system.json');
    mkdirSync(path.dirname(file), { recursive: true });
    const all = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
      : {};
    all[kind] = figures;
    writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
    console.log(`written ${path.relative(process.cwd(), file)} (${kind})`);
    await writeBenchmarksBlock(all as Record<string, Figures>);
  } finally {
    await stopSystem();
    await sql.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS \`${dbName}\``).catch(() => undefined);
    await admin.end().catch(() => undefined);
    await redis.flushdb().catch(() => undefined);
    redis.disconnect();
    // the configured database and the read models' own beside it (`<db>_timelines`)
    const mongo = new MongoClient(mongoUrl.toString());
    await dropReadModelDatabases(mongo.db()).catch(() => undefined);
    await mongo.close().catch(() => undefined);
  }
}

// ---- BENCHMARKS.md -------------------------------------------------------------------

interface Figures {
  command: string;
  at: string;
  machine: { loadBefore: number[]; loadAfter: number[] };
  acceptedPerSecond: number;
  non2xx: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  duringLoad: {
    submittedPerSecond: number | null;
    deliveredPerSecond: number | null;
    acceptedPerSecond: number | null;
    backlogAtStart: number | null;
    backlogAtEnd: number | null;
  };
  drainSeconds: number | null;
  drainNote?: string;
  settleSeconds?: number | string;
  redis: {
    commandsPerAccepted: number | null;
    commandsPerDispatched: number | null;
    duringIdle?: Record<string, number>;
  };
  sql: {
    statementsPerAccepted: number | null;
    statementsPerDispatched: number | null;
    duringIdle?: Record<string, number>;
  };
  idleWakeupsPerSecond?: Record<string, number>;
  cpuPercentOfOneCore: { duringLoad: Record<string, number>; idle: Record<string, number> };
  cpuMsPerMessage?: Record<string, number>;
}

const BEGIN = '<!-- bench/system.ts: begin (generated by the script) -->';
const END = '<!-- bench/system.ts: end -->';

async function writeBenchmarksBlock(all: Record<string, Figures>): Promise<void> {
  const file = path.join(root, 'BENCHMARKS.md');
  const text = readFileSync(file, 'utf8');
  const lines: string[] = [BEGIN, ''];
  for (const [kind, f] of Object.entries(all)) {
    const cpuLine = (m: Record<string, number>) =>
      Object.entries(m)
        .filter(([, v]) => v >= 0.5)
        .map(([k, v]) => `${k} ${v}%`)
        .join(', ');
    lines.push(
      `### ${kind === 'default' ? 'Default caps (100/s per account)' : `Caps raised (${kind.slice(3)}/s per account)`}: \`${f.command}\``,
      '',
      `Measured ${f.at.slice(0, 16).replace('T', ' ')} UTC, load average ${f.machine.loadBefore[0]} before and ${f.machine.loadAfter[0]} after.`,
      '',
      '| measurement | result |',
      '| --- | --- |',
      `| accepted/s | ${f.acceptedPerSecond} |`,
      `| latency p50 / p90 / p99 / max | ${f.latencyMs.p50} / ${f.latencyMs.p90} / ${f.latencyMs.p99} / ${f.latencyMs.max} ms |`,
      `| non-2xx | ${f.non2xx} |`,
      `| during the load: accepted/s, submitted/s, delivered/s | ${f.duringLoad.acceptedPerSecond} / ${f.duringLoad.submittedPerSecond} / ${f.duringLoad.deliveredPerSecond} |`,
      `| backlog (accepted, not yet submitted) at start / end of that window | ${f.duringLoad.backlogAtStart} / ${f.duringLoad.backlogAtEnd} |`,
      `| time to drain after the load | ${f.drainSeconds === null ? (f.drainNote ?? 'not drained') : `${f.drainSeconds} s`} |`,
      `| Redis commands per accepted / per dispatched | ${f.redis.commandsPerAccepted} / ${f.redis.commandsPerDispatched} |`,
      `| SQL statements per accepted / per dispatched | ${f.sql.statementsPerAccepted} / ${f.sql.statementsPerDispatched} |`,
      `| CPU during the load (% of one core) | ${cpuLine(f.cpuPercentOfOneCore.duringLoad)} |`,
      ...(f.cpuMsPerMessage
        ? [
            `| CPU ms per accepted message (load start → settled, less idle) | ${Object.entries(
              f.cpuMsPerMessage,
            )
              .filter(([, v]) => v >= 0.01)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')} |`,
          ]
        : []),
      `| read models settled (CPU < 10%) after the drain | ${typeof f.settleSeconds === 'number' ? `${f.settleSeconds} s` : (f.settleSeconds ?? '—')} |`,
      `| CPU idle afterwards (% of one core) | ${cpuLine(f.cpuPercentOfOneCore.idle) || 'all under 0.5%'} |`,
      ...(f.idleWakeupsPerSecond
        ? [
            `| wakeups per second idle (voluntary context switches) | ${Object.entries(
              f.idleWakeupsPerSecond,
            )
              .filter(([, v]) => v >= 1)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')} |`,
          ]
        : []),
      ...(f.redis.duringIdle
        ? [
            `| Redis commands during the idle window | ${
              Object.entries(f.redis.duringIdle)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ') || 'none'
            } |`,
          ]
        : []),
      ...(f.sql.duringIdle
        ? [`| SQL statements during the idle window | ${f.sql.duringIdle.Questions ?? 0} |`]
        : []),
      '',
    );
  }
  lines.push(END);
  const block = lines.join('\n');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  let next: string;
  if (start >= 0 && end > start) {
    next = text.slice(0, start) + block + text.slice(end + END.length);
  } else {
    // after the title and its first paragraph
    const at = text.indexOf('\n## ');
    next = `${text.slice(0, at)}\n## The system as users start it (\`npm start\`)\n\n${block}\n${text.slice(at)}`;
  }
  // formatted as `npm run format` would, so format:check stays green
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(next, { ...options, filepath: file }));
  console.log('updated BENCHMARKS.md');
}

await main();
