// The stores with passwords, as docker-compose.yml runs them: a Redis that
// requires one (--requirepass) and a Mongo-compatible server that requires a
// user (FerretDB 1.24 with its authentication on: --test-enable-new-auth and an
// initial user, SCRAM-SHA-256). streaming's configuration takes the
// password-bearing URLs (percent-encoded), its clients connect with them, and
// the servers refuse the same work without them. Both servers are started here,
// on free ports of their own, and stopped at the end.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { createMongo, createRedis, readinessChecks } from '../../platform/clients/index.ts';
import { loadConfig } from '../../platform/config/index.ts';
import { readModelDb } from '../../platform/readModels/index.ts';
import { findFerretdb, stackConfig } from '../../stack/index.ts';

// characters a URL must escape, so that the URL forms are really exercised
const PASSWORD = 'p@ss:w/rd%+?#0b7d2f4a';
const USER = 'streaming';

/** <main checkout>/.stack when this is a git worktree (its common git dir is the main one's). */
function mainStackDir(): string {
  try {
    const common = execFileSync(
      'git',
      ['rev-parse', '--path-format=absolute', '--git-common-dir'],
      {
        cwd: import.meta.dirname,
        encoding: 'utf8',
      },
    ).trim();
    return path.join(path.dirname(common), '.stack');
  } catch {
    return '.stack';
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listening(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.once('connect', () => (sock.destroy(), resolve(true)));
      sock.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on ${port} within 30 s`);
}

describe('stores that require passwords', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'streaming-store-passwords-'));
  const children: ChildProcess[] = [];
  let redisPort = 0;
  let mongoPort = 0;

  before(async () => {
    // the stack's build; in a git worktree, maybe the main checkout's
    const ferretdb =
      (await findFerretdb(stackConfig())) ??
      (await findFerretdb(stackConfig({ ...process.env, STREAMING_STACK_DIR: mainStackDir() })));
    assert.ok(ferretdb, 'a ferretdb binary (npm run stack -- up builds it into .stack/bin)');
    redisPort = await freePort();
    mongoPort = await freePort();
    const redis = spawn(
      'redis-server',
      [
        '--port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--requirepass',
        PASSWORD,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    children.push(redis);
    const mongo = spawn(
      ferretdb,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${dir}/`,
        `--listen-addr=127.0.0.1:${mongoPort}`,
        `--state-dir=${dir}`,
        '--telemetry=disable',
        '--log-level=error',
        '--debug-addr=-',
        '--test-enable-new-auth=true',
        `--setup-username=${USER}`,
        `--setup-password=${PASSWORD}`,
        '--setup-database=streaming',
      ],
      { stdio: 'ignore' },
    );
    children.push(mongo);
    await listening(redisPort, redis, 'redis-server');
    await listening(mongoPort, mongo, 'ferretdb');
  });

  after(async () => {
    for (const child of children) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const secret = encodeURIComponent(PASSWORD);
  const configWith = () =>
    loadConfig({
      STREAMING_ENV: 'test',
      STREAMING_REDIS_URL: `redis://:${secret}@127.0.0.1:${redisPort}/0`,
      STREAMING_MONGO_URL: `mongodb://${USER}:${secret}@127.0.0.1:${mongoPort}/streaming`,
    });

  it('Redis: the configured URL with its password works; without it, NOAUTH', async () => {
    const config = configWith();
    const redis = createRedis(config);
    try {
      await redis.set('streaming:probe', 'ok');
      assert.equal(await redis.get('streaming:probe'), 'ok');
      assert.deepEqual(await readinessChecks({ redis })(), { redis: 'ok' });
    } finally {
      redis.disconnect();
    }
    for (const url of [
      `redis://127.0.0.1:${redisPort}/0`,
      `redis://:wrong-password@127.0.0.1:${redisPort}/0`,
    ]) {
      const anonymous = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      anonymous.on('error', () => undefined);
      try {
        await assert.rejects(anonymous.get('streaming:probe'), /NOAUTH|WRONGPASS/);
      } finally {
        anonymous.disconnect();
      }
    }
  });

  it('MongoDB (FerretDB 1.24 with authentication): the URL with user and password works, in the timelines database too; anonymous and wrong ones are refused', async () => {
    const config = configWith();
    const mongo = createMongo(config);
    try {
      await mongo.db.collection('probe').insertOne({ ok: true });
      assert.equal(await mongo.db.collection('probe').countDocuments(), 1);
      // the read model kept in a database of its own, beside the configured one
      const timelines = readModelDb(mongo.db, 'message_timelines');
      await timelines.collection('probe').insertOne({ ok: true });
      assert.equal(await timelines.collection('probe').countDocuments(), 1);
      assert.deepEqual(await readinessChecks({ mongo })(), { mongo: 'ok' });
    } finally {
      await mongo.client.close();
    }
    const refused = async (url: string, why: RegExp) => {
      const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000, retryWrites: false });
      try {
        await assert.rejects(client.db().collection('probe').insertOne({ ok: false }), why);
      } finally {
        await client.close().catch(() => undefined);
      }
    };
    await refused(`mongodb://127.0.0.1:${mongoPort}/streaming`, /requires authentication/);
    await refused(
      `mongodb://${USER}:wrong-password@127.0.0.1:${mongoPort}/streaming`,
      /Authentication failed/,
    );
  });
});
