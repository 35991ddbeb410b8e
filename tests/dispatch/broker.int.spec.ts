// The Kafka broker is stopped and started again in the middle of a run
// (the broker `npm run stack` started): nothing is lost, nothing sent twice.
// Runs last and keeps the outage short: other suites share the broker.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startProcessors, type Running } from '../../processors/index.ts';
import { startHarness, withStatus, type Harness } from '../../testing/dispatchHarness.ts';

const run = promisify(execFile);
const BROKER_PORT = Number(process.env.STREAMING_STACK_KAFKA_PORT ?? 9092);
const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const CLI = new URL('../../cli/main.ts', import.meta.url).pathname;

function brokerAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: BROKER_PORT });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stack(action: 'up' | 'down'): Promise<void> {
  await run(NODE, [CLI, 'stack', action, 'kafka'], { timeout: 120_000 });
}

describe('the Kafka broker restarted during a run', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness('broker', [
      { id: 'brk-aliyun', vendor: 'aliyun', behaviour: { id: 'brk-aliyun', latencyMs: 5 } },
      { id: 'brk-tencent', vendor: 'tencent', behaviour: { id: 'brk-tencent' } },
    ]);
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
    // After a real broker restart a kafkajs client (2.2.4) can reopen a coordinator
    // connection after disconnect(), and that socket would keep this file's process
    // alive until the test timeout. Every result is reported by now; if something
    // still holds the event loop a second later, end the process with its own code.
    setTimeout(() => process.exit(), 1_000).unref();
  });

  it('delivers every message once the broker is back', async () => {
    const first = await h.accept(300);
    await h.waitFinal(first.slice(0, 50), 60_000);
    const down = Date.now();
    await stack('down');
    // The stack must own the broker for this test to mean anything (it does in CI).
    assert.equal(await brokerAnswers(), false, 'the broker is really down');
    const during = await h.accept(400);
    await new Promise((r) => setTimeout(r, 2_000));
    await stack('up');
    const outageMs = Date.now() - down;
    const later = await h.accept(300);
    const ids = [...first, ...during, ...later];
    await h.waitFinal(ids, 150_000);
    assert.equal(withStatus(h.states, ids, 'delivered').length, 1000);
    const received = await h.received();
    for (const id of ids) assert.equal(received[id], 1, `message ${id} sent once`);
    assert.ok(outageMs > 0);
  });
});
