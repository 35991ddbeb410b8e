// What `npm start` does when it cannot be what it is asked to be: a port it
// would serve on is taken (a second npm start, another program), or its
// supervisor goes away while a child still starts. Found by hand: a second
// npm start started every child, died on the taken metrics port, and left
// background children that joined the running system's consumer groups
// against their own database until they crashed on their ready message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';

const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

async function listening(): Promise<Server> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
}

async function freePort(): Promise<number> {
  const s = await listening();
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

// a start that does not end by itself (before: the command child restarted
// forever on its taken port) fails by its timeout and is stopped here
const TIMEOUT = { timeout: 90_000 };
const spawned: ChildProcess[] = [];
after(() => {
  for (const child of spawned) if (child.exitCode === null) child.kill('SIGINT');
});

describe('streaming start with a port taken', () => {
  let taken: Server;
  before(async () => {
    taken = await listening();
  });
  after(() => new Promise((r) => taken.close(r)));

  test('says which port and why in one line, exits 1 and starts nothing', TIMEOUT, async () => {
    const takenPort = (taken.address() as AddressInfo).port;
    const child = spawn(process.execPath, [main, 'start', '--no-stack'], {
      env: {
        ...process.env,
        STREAMING_COMMAND_PORT: String(takenPort),
        STREAMING_QUERY_PORT: String(await freePort()),
        STREAMING_GRPC_PORT: String(await freePort()),
        STREAMING_SIMULATOR_PORT: String(await freePort()),
        STREAMING_METRICS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    spawned.push(child);
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, output);
    assert.match(
      output,
      new RegExp(`PORT_IN_USE: .*port ${takenPort} \\(command API, STREAMING_COMMAND_PORT\\)`),
    );
    assert.match(output, /Is streaming already running\?/);
    assert.doesNotMatch(output, /streaming: started /, 'a child was started');
    assert.doesNotMatch(output, /\n\s+at /, 'a stack trace instead of one line');
  });
});

describe('a child whose supervisor is gone before it serves', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase('supervisor_gone');
  });
  after(() => db.drop());

  test('ends before it starts its components, without a crash', TIMEOUT, async () => {
    const child = spawn(process.execPath, [main, 'serve', 'processors'], {
      env: { ...process.env, STREAMING_MYSQL_URL: db.url, STREAMING_SUPERVISED: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    spawned.push(child);
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    // the supervisor goes away at once, as when its own start fails
    child.disconnect();
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, output);
    assert.doesNotMatch(output, /ERR_IPC_CHANNEL_CLOSED/);
    assert.doesNotMatch(output, /"message":"\w+ active"/, 'it started its components first');
  });
});
