// The Kafka broker is stopped and started again in the middle of a run:
// nothing is lost, nothing sent twice. The broker is this file's own (a
// private stack, tests/support/privateStack.ts, on ports no other test uses),
// so the outage never reaches the broker the other test files share.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProcessors, type Running } from '../../processors/index.ts';
import { startHarness, withStatus, type Harness } from '../../testing/dispatchHarness.ts';
import { privateStack, type PrivateStack } from '../support/privateStack.ts';

const BROKER_PORT = 9986;

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

describe('the Kafka broker restarted during a run', () => {
  let h: Harness;
  let running: Running;
  let broker: PrivateStack;
  before(async () => {
    broker = await privateStack(
      'broker',
      { kafka: BROKER_PORT, kafkaController: BROKER_PORT + 1 },
      ['kafka'],
    );
    h = await startHarness(
      'broker',
      [
        { id: 'brk-aliyun', vendor: 'aliyun', behaviour: { id: 'brk-aliyun', latencyMs: 5 } },
        { id: 'brk-tencent', vendor: 'tencent', behaviour: { id: 'brk-tencent' } },
      ],
      {},
      { env: broker.env },
    );
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
    await broker?.down();
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
    await broker.down();
    // the broker is really away (this file started it, so it stops it)
    assert.equal(await brokerAnswers(), false, 'the broker is really down');
    const during = await h.accept(400);
    await new Promise((r) => setTimeout(r, 2_000));
    await broker.up();
    const outageMs = Date.now() - down;
    const later = await h.accept(300);
    const ids = [...first, ...during, ...later];
    await h.waitFinal(ids, 150_000);
    const counts: Record<string, number> = {};
    for (const id of ids) {
      const state = h.states.get(id);
      const status = state?.exists ? state.status : 'absent';
      counts[status] = (counts[status] ?? 0) + 1;
    }
    assert.equal(
      withStatus(h.states, ids, 'delivered').length,
      1000,
      `every message delivered: ${JSON.stringify(counts)}`,
    );
    const received = await h.received();
    for (const id of ids) assert.equal(received[id], 1, `message ${id} sent once`);
    assert.ok(outageMs > 0);
  });
});
