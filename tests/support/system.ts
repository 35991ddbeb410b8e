// The whole system as `npm start` runs it (without the stack step), in a
// child process on its own database, Redis DB, Mongo database and ports,
// for the tests that drive it from outside: metrics, the browser console.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { dropReadModelDatabases } from '../../platform/readModels/index.ts';
import { defaultSupplierAccounts } from '../../platform/config/index.ts';
import { isAlive } from '../../stack/index.ts';

const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

export interface Reply {
  status: number;
  json: Record<string, unknown>;
}

export async function call(
  url: string,
  method: string,
  body?: unknown,
  token?: string,
): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface RunningSystem {
  command: string;
  query: string;
  simulator: string;
  metrics: string;
  /** host:port of the gRPC API */
  grpc: string;
  output(): string;
  /** A fresh tenant's token (registered and logged in). */
  tenant(): Promise<{ username: string; password: string; token: string }>;
  /** Registers an admin with the CLI and logs in. */
  admin(): Promise<{ username: string; password: string; token: string }>;
  stop(): Promise<void>;
}

/** Ports base+0 command, +1 query, +2 gRPC, +10 simulator, +20 metrics. */
export async function startSystem(
  name: string,
  base: number,
  extraEnv: Record<string, string> = {},
): Promise<RunningSystem> {
  const ports = {
    command: base,
    query: base + 1,
    grpc: base + 2,
    simulator: base + 10,
    metrics: base + 20,
  };
  const urls = {
    command: `http://127.0.0.1:${ports.command}`,
    query: `http://127.0.0.1:${ports.query}`,
    simulator: `http://127.0.0.1:${ports.simulator}`,
    metrics: `http://127.0.0.1:${ports.metrics}`,
    grpc: `127.0.0.1:${ports.grpc}`,
  };
  const db: TestDatabase = await freshDatabase(name);
  const mongoDbName = `streaming_t_${name}_${randomBytes(4).toString('hex')}`;
  const redisDb = 7 + (base % 8);
  const env = {
    ...process.env,
    STREAMING_MYSQL_URL: db.url,
    STREAMING_REDIS_URL: `redis://127.0.0.1:6379/${redisDb}`,
    STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${mongoDbName}`,
    STREAMING_COMMAND_PORT: String(ports.command),
    STREAMING_QUERY_PORT: String(ports.query),
    STREAMING_GRPC_PORT: String(ports.grpc),
    STREAMING_SIMULATOR_PORT: String(ports.simulator),
    STREAMING_METRICS_PORT: String(ports.metrics),
    STREAMING_SUPPLIERS: JSON.stringify(
      defaultSupplierAccounts.map((a) => ({ ...a, endpoint: `${urls.simulator}/` })),
    ),
    STREAMING_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [main, 'start', '--no-stack'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const pids = (): number[] =>
    [...output.matchAll(/streaming: started \w+ \(pid (\d+)\)/g)].map((m) => Number(m[1]));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await once(child, 'exit');
      clearTimeout(t);
    }
    for (const pid of pids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    const mongo = new MongoClient(`mongodb://127.0.0.1:27017/${mongoDbName}`);
    await dropReadModelDatabases(mongo.db(mongoDbName)).catch(() => undefined);
    await mongo.close();
    await db.drop();
  };

  try {
    await eventually(
      'the services to be ready',
      async () => {
        const [a, b] = await Promise.all([
          fetch(`${urls.command}/readyz`),
          fetch(`${urls.query}/readyz`),
        ]);
        return a.ok && b.ok ? true : undefined;
      },
      90_000,
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.slice(-3000)}`, { cause: err });
  }

  const login = async (username: string, password: string) => {
    const r = await call(`${urls.command}/v1/sessions`, 'POST', { username, password });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return String(r.json.token);
  };
  return {
    ...urls,
    output: () => output,
    async tenant() {
      const username = `tenant${randomBytes(3).toString('hex')}`;
      const password = 'correct horse battery';
      const reg = await call(`${urls.command}/v1/users`, 'POST', { username, password });
      assert.equal(reg.status, 201, JSON.stringify(reg.json));
      return { username, password, token: await login(username, password) };
    },
    async admin() {
      const username = `admin${randomBytes(3).toString('hex')}`;
      const password = 'correct horse battery staple';
      const cli = spawn(process.execPath, [main, 'users', 'create-admin', '-u', username], {
        env: { ...env, STREAMING_ADMIN_PASSWORD: password },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      cli.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      cli.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      const [code] = (await once(cli, 'exit')) as [number];
      assert.equal(code, 0, out);
      return { username, password, token: await login(username, password) };
    },
    stop,
  };
}

/**
 * Registers the tenant's signature and waits until the simulated vendors
 * approved it and the template on every account (the query API shows it).
 */
export async function approvedBySuppliers(
  sys: Pick<RunningSystem, 'command' | 'query'>,
  token: string,
  templateCode: string,
  signature: string,
): Promise<void> {
  const sig = await call(`${sys.command}/v1/signatures`, 'POST', { name: signature }, token);
  assert.ok(sig.status === 201 || sig.status === 200, JSON.stringify(sig.json));
  await eventually(`template ${templateCode} and signature ${signature} approved`, async () => {
    const t = await call(`${sys.query}/v1/templates/${templateCode}`, 'GET', undefined, token);
    const s = await call(`${sys.query}/v1/signatures`, 'GET', undefined, token);
    const bindings = (t.json.bindings ?? []) as { status: string }[];
    const sigs = (s.json.items ?? []) as { name: string; accounts: { status: string }[] }[];
    const mine = sigs.find((x) => x.name === signature);
    return bindings.length > 0 &&
      bindings.every((b) => b.status === 'approved') &&
      mine?.accounts.every((a) => a.status === 'approved')
      ? true
      : undefined;
  });
}
