// lowerRunning: what `npm start` does to the stack services no send waits on
// (Kafka, FerretDB): every thread of a running process lowered, threads it
// starts afterwards lowered too, and all of them put back on stop.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { lowerRunning } from '../../cli/supervisor.ts';

/** A process with worker threads that starts one more on "more\n". */
const program = `
const { Worker } = require('node:worker_threads');
const idle = () => new Worker('setInterval(() => {}, 1000)', { eval: true });
idle(); idle();
process.stdin.on('data', () => { idle(); setTimeout(() => process.stdout.write('more\\n'), 200); });
setTimeout(() => process.stdout.write('ready\\n'), 300);
`;

const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).map(Number);
const niceness = (pid: number) => [...new Set(threads(pid).map((tid) => getPriority(tid)))];

describe('lowerRunning', () => {
  let child: ChildProcess;
  const lines: string[] = [];
  const said = (what: string) =>
    new Promise<void>((resolve) => {
      const check = (c: Buffer) => {
        if (c.toString().includes(what)) {
          child.stdout!.off('data', check);
          resolve();
        }
      };
      child.stdout!.on('data', check);
    });

  before(async () => {
    child = spawn(process.execPath, ['-e', program], { stdio: ['pipe', 'pipe', 'inherit'] });
    await said('ready');
  });
  after(async () => {
    child.kill();
    await once(child, 'exit');
  });

  test('lowers every thread, those started later too, and puts them back', async () => {
    const pid = child.pid!;
    const base = getPriority();
    assert.deepEqual(niceness(pid), [base], 'the process starts at our priority');
    const before = threads(pid).length;
    assert.ok(before > 3, `a process with several threads (${before})`);

    const restore = lowerRunning('test', pid, 5, (l) => lines.push(l));
    const target = Math.min(19, base + 5);
    assert.deepEqual(niceness(pid), [target], 'every thread lowered');
    assert.match(lines.join('\n'), new RegExp(`test \\(pid ${pid}\\).*nice ${target}`));

    child.stdin!.write('more\n');
    await said('more');
    assert.ok(threads(pid).length > before, 'a thread started after the lowering');
    assert.deepEqual(niceness(pid), [target], 'it inherits the lowered priority');

    restore();
    assert.deepEqual(niceness(pid), [base], 'every thread back at the priority it had');
  });

  test('no steps and a process that is gone change nothing and throw nothing', () => {
    const pid = child.pid!;
    lowerRunning('test', pid, 0, (l) => lines.push(l))();
    assert.deepEqual(niceness(pid), [getPriority()]);
    const said: string[] = [];
    const restore = lowerRunning('gone', 2 ** 22 + 12345, 5, (l) => said.push(l));
    restore();
    assert.match(said.join('\n'), /could not lower the priority of gone/);
  });
});
