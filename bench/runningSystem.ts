// The whole system as a user starts it, for the benches that measure what a
// user gets: `streaming start --no-stack` (the supervisor, one child per part,
// the simulator with its default accounts, default configuration) on a fresh
// MySQL database, a flushed Redis database and a fresh Mongo database; a
// tenant whose signature and template the simulated vendors approved, as the
// README's first request does; the CPU time of every process from /proc.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import { defaultSupplierAccounts, loadConfig } from '../platform/config/index.ts';
import { dropReadModelDatabases } from '../platform/readModels/index.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'cli', 'main.ts');
const TICK = 100; // USER_HZ on Linux

export interface RunningSystem {
  api: string;
  queryApi: string;
  /** The supervisor's children and the stack's servers, by name. */
  pids: Record<string, number>;
  /** Ctrl-C, then drop the database, the Redis database and the Mongo database. */
  cleanup(): Promise<void>;
}

/** Starts the system on fresh stores; `env` is added to the caller's environment. */
export async function startSystem(
  name: string,
  env: NodeJS.ProcessEnv = {},
  redisDb = 13,
): Promise<RunningSystem> {
  const base = loadConfig(process.env);
  const dbName = `streaming_bench_${name}_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection(base.mysql.url);
  await admin.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  const mysqlUrl = new URL(base.mysql.url);
  mysqlUrl.pathname = `/${dbName}`;
  const redisUrl = new URL(base.redis.url);
  redisUrl.pathname = `/${redisDb}`;
  const redis = new Redis(redisUrl.toString());
  await redis.flushdb();
  const mongoUrl = new URL(base.mongo.url);
  mongoUrl.pathname = `/${dbName}`;
  const simulatorUrl = `http://127.0.0.1:${base.http.simulatorPort}/`;
  const child: ChildProcess = spawn(process.execPath, [cli, 'start', '--no-stack'], {
    env: {
      ...process.env,
      STREAMING_MYSQL_URL: mysqlUrl.toString(),
      STREAMING_REDIS_URL: redisUrl.toString(),
      STREAMING_MONGO_URL: mongoUrl.toString(),
      STREAMING_SUPPLIERS: JSON.stringify(
        defaultSupplierAccounts.map((a) => ({ ...a, endpoint: simulatorUrl })),
      ),
      STREAMING_LOG_LEVEL: process.env.STREAMING_LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  });
  const exited = new Promise((r) => child.once('exit', r));
  const api = `http://127.0.0.1:${base.http.commandPort}`;
  const queryApi = `http://127.0.0.1:${base.http.queryPort}`;
  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await exited;
    }
    await admin.query(`DROP DATABASE IF EXISTS \`${dbName}\``).catch(() => undefined);
    await admin.end().catch(() => undefined);
    await redis.flushdb().catch(() => undefined);
    redis.disconnect();
    const mongo = new MongoClient(mongoUrl.toString());
    await dropReadModelDatabases(mongo.db()).catch(() => undefined);
    await mongo.close().catch(() => undefined);
  };
  try {
    for (let i = 0; !(await ready(api)) || !out.includes('streaming is running'); i++) {
      if (child.exitCode !== null) throw new Error(`streaming start exited: ${out.slice(-2000)}`);
      if (i > 600) throw new Error('the system did not become ready in 120 s');
      await sleep(200);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { api, queryApi, pids: { ...childPids(out), ...stackPids() }, cleanup };
}

const ready = (api: string) =>
  fetch(`${api}/readyz`)
    .then((r) => r.ok)
    .catch(() => false);

function childPids(out: string): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const m of out.matchAll(/streaming: started (\w+) \(pid (\d+)\)/g)) {
    pids[m[1]!] = Number(m[2]);
  }
  return pids;
}

function stackPids(): Record<string, number> {
  const dir = process.env.STREAMING_STACK_DIR ?? path.join(root, '.stack');
  const pids: Record<string, number> = {};
  for (const svc of ['mariadb', 'redis', 'kafka', 'ferretdb']) {
    const file = path.join(dir, `${svc}.pid`);
    if (existsSync(file)) pids[svc] = Number(readFileSync(file, 'utf8').trim());
  }
  return pids;
}

/** CPU ms each process has used so far (utime + stime; a process that is gone counts 0). */
export function cpuMs(pids: Record<string, number>): Record<string, number> {
  const ms: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms[name] = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
    } catch {
      ms[name] = 0;
    }
  }
  return ms;
}

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
  if (!res.ok) throw new Error(`POST ${url} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * A new user with a signature and a template (the given policy), both
 * approved by every simulated vendor account; waits until the query API
 * shows the approvals, as a user would before the first send.
 */
export async function approvedTenant(
  system: RunningSystem,
  policy: Record<string, unknown>,
): Promise<{ token: string; templateCode: string }> {
  const username = `bench${randomBytes(3).toString('hex')}`;
  await post(`${system.api}/v1/users`, { username, password: 'benchmark password' });
  const { token } = (await post(`${system.api}/v1/sessions`, {
    username,
    password: 'benchmark password',
  })) as { token: string };
  await post(`${system.api}/v1/signatures`, { name: 'Bench' }, token);
  const { templateCode } = (await post(
    `${system.api}/v1/templates`,
    {
      name: 'bench',
      kind: 'notification',
      signature: 'Bench',
      content: 'Order ${order} shipped.',
      policy,
    },
    token,
  )) as { templateCode: string };
  const approved = async (p: string) => {
    const res = await fetch(`${system.queryApi}${p}`, {
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
  return { token, templateCode };
}
