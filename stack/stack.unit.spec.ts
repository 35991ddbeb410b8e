// The stack's configuration and how it starts a service below normal
// priority: every thread of the service at the niceness asked for, under
// the service's own pid.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { stackConfig } from './config.ts';
import { StackError, startDetached, stopPid } from './proc.ts';

/** The niceness of each thread of `pid` (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadNiceness(pid: number): number[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('stack configuration', () => {
  it('runs FerretDB at nice 10 unless told otherwise, and refuses what is no niceness', () => {
    assert.equal(stackConfig({}).ferretdb.nice, 10);
    assert.equal(stackConfig({ STREAMING_STACK_FERRETDB_NICE: '0' }).ferretdb.nice, 0);
    assert.equal(stackConfig({ STREAMING_STACK_FERRETDB_NICE: '19' }).ferretdb.nice, 19);
    for (const bad of ['20', '-1', '2.5', 'low']) {
      assert.throws(
        () => stackConfig({ STREAMING_STACK_FERRETDB_NICE: bad }),
        (err: unknown) => err instanceof StackError && err.message.includes('niceness'),
        bad,
      );
    }
  });
});

describe('startDetached with nice', () => {
  it('starts every thread of the service at that niceness, under the service’s own pid', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-nice-'));
    const pidFile = path.join(dir, 'svc.pid');
    // a Node process: several threads (V8 platform workers, libuv's pool once used)
    const started = await startDetached(
      process.execPath,
      ['-e', "require('node:fs').readFile(__filename, () => {}); setInterval(() => {}, 1000)"],
      { logFile: path.join(dir, 'svc.log'), pidFile, nice: 7 },
    );
    try {
      assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(started.pid));
      const ours = os.getPriority();
      const want = Math.min(19, ours + 7);
      // `nice` execs the command: wait until the pid is the command's
      let cmdline = '';
      for (let i = 0; i < 100 && !cmdline.includes('setInterval'); i++) {
        cmdline = fs.readFileSync(`/proc/${started.pid}/cmdline`, 'utf8');
        if (!cmdline.includes('setInterval')) await sleep(20);
      }
      assert.ok(cmdline.startsWith(process.execPath), cmdline);
      await sleep(200);
      const threads = threadNiceness(started.pid);
      assert.ok(threads.length > 1, `threads: ${threads.length}`);
      assert.deepEqual(
        threads,
        threads.map(() => want),
      );
    } finally {
      await stopPid(started.pid, 2_000);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
