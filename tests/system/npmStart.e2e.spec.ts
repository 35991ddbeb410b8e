// `npm start` ends with npm. Found by hand: `kill <npm's pid>` (what a
// process manager or `timeout npm start` does) ended npm and its `sh -c`,
// and the supervisor with every child ran on under pid 1. Now the script
// execs the supervisor (npm's SIGTERM reaches it) and a supervisor started
// by npm stops when it is reparented (npm killed with SIGKILL).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { dropReadModelDatabases } from '../../platform/readModels/index.ts';
import { defaultSupplierAccounts } from '../../platform/config/index.ts';
import { isAlive } from '../../stack/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TIMEOUT = { timeout: 240_000 };

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

function parentOf(pid: number): number {
  // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function until(what: string, probe: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const databases: TestDatabase[] = [];
const mongoNames: string[] = [];
const leftovers: number[] = [];
after(async () => {
  for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const db of databases) await db.drop();
  const mongo = new MongoClient('mongodb://127.0.0.1:27017/');
  await mongo.connect();
  for (const name of mongoNames)
    await dropReadModelDatabases(mongo.db(name)).catch(() => undefined);
  await mongo.close();
});

/** `npm start -- --no-stack` on ports and stores of its own; npm, the supervisor and the children. */
async function npmStart(): Promise<{ npm: ChildProcess; supervisor: number; children: number[] }> {
  const db = await freshDatabase('npm_start');
  databases.push(db);
  const mongoName = `streaming_t_npm_${randomBytes(4).toString('hex')}`;
  mongoNames.push(mongoName);
  const simulatorPort = await freePort();
  // npm test sets npm_execpath to the npm that runs it; alone, the npm on PATH
  const npmCli = process.env.npm_execpath;
  const [cmd, args] = npmCli
    ? [process.execPath, [npmCli, 'start', '--', '--no-stack']]
    : ['npm', ['start', '--', '--no-stack']];
  const npm = spawn(cmd, args, {
    cwd: root,
    env: {
      ...process.env,
      STREAMING_MYSQL_URL: db.url,
      STREAMING_REDIS_URL: 'redis://127.0.0.1:6379/7',
      STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${mongoName}`,
      STREAMING_COMMAND_PORT: String(await freePort()),
      STREAMING_QUERY_PORT: String(await freePort()),
      STREAMING_GRPC_PORT: String(await freePort()),
      STREAMING_SIMULATOR_PORT: String(simulatorPort),
      STREAMING_METRICS_PORT: '0',
      STREAMING_SUPPLIERS: JSON.stringify(
        defaultSupplierAccounts.map((a) => ({
          ...a,
          endpoint: `http://127.0.0.1:${simulatorPort}/`,
        })),
      ),
      STREAMING_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  npm.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  await until('npm start to be running', () => output.includes('Press Ctrl-C to stop.'), 150_000);
  const children = [...output.matchAll(/streaming: started \w+ \(pid (\d+)\)/g)].map((m) =>
    Number(m[1]),
  );
  assert.ok(children.length >= 6, output);
  const supervisor = parentOf(children[0]!);
  leftovers.push(supervisor, ...children);
  // npm execs the script: the supervisor is npm's own child, no shell between
  assert.equal(parentOf(supervisor), npm.pid, 'a process between npm and the supervisor');
  return { npm, supervisor, children };
}

describe('npm start ends with npm', () => {
  test(
    'Ctrl-C on its terminal (SIGINT to npm and the supervisor) stops it in order',
    TIMEOUT,
    async () => {
      const { npm, supervisor, children } = await npmStart();
      let output = '';
      npm.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      npm.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      const exited = once(npm, 'exit');
      // what a terminal does: the signal to its foreground process group, and
      // npm passes its own on to the script
      process.kill(supervisor, 'SIGINT');
      npm.kill('SIGINT');
      const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      await until('the children to end', () => !children.some(isAlive), 60_000);
      // the second SIGINT was npm passing the first on, not a second Ctrl-C
      // (which exits at once, code 1, before the children are stopped)
      assert.match(output, /streaming: stopping/);
      assert.ok(code === 0 || signal === 'SIGINT', `npm ended with ${code ?? signal}: ${output}`);
      assert.ok(!isAlive(supervisor));
    },
  );

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`${signal} to npm stops the supervisor and every child`, TIMEOUT, async () => {
      const { npm, supervisor, children } = await npmStart();
      npm.kill(signal);
      await until(
        'the supervisor and its children to end',
        () => ![supervisor, ...children].some(isAlive),
        60_000,
      );
    });
  }
});
