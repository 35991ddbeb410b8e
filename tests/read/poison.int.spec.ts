// A poison event: a projection that throws on one event every time (while
// its stores answer) parks it with its error after N attempts and moves on;
// the status lists it, and a retry (once the cause is gone) re-applies it
// through a rebuild and clears it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { messageHistory } from '../../projectors/mysqlModels.ts';
import {
  parkedEvents,
  retryParked,
  runProjection,
  systemStatus,
  type Projection,
} from '../../projectors/index.ts';
import { createPipeline } from '../../platform/health/index.ts';
import { readSide, type ReadSide } from '../../testing/readSide.ts';

describe('a poison event', () => {
  let side: ReadSide;
  before(async () => {
    side = await readSide('poison');
  });
  after(async () => {
    await side?.drop();
  });

  it('is parked after its attempts, the projection moves on, and a retry re-applies it', async () => {
    const poisonId = randomUUID();
    let poisoned = true;
    // message_history, failing on one message's events for as long as `poisoned`
    const projection: Projection = {
      ...messageHistory,
      async apply(deps, target, events, upTo) {
        if (poisoned && events.some((e) => e.data.messageId === poisonId)) {
          throw new TypeError(`cannot fold ${poisonId}`);
        }
        return messageHistory.apply(deps, target, events, upTo);
      },
    };
    const ids = [randomUUID(), poisonId, randomUUID()];
    for (const messageId of ids) {
      await side.deps.eventStore.append(
        `message-${messageId}`,
        [
          {
            type: 'sms.accepted.v1',
            data: {
              messageId,
              tenantId: 't1',
              templateId: 'tpl',
              templateCode: 'code',
              kind: 'notification',
              mobile: '+8613700000001',
              content: 'hello',
              segments: 1,
              encoding: 'GSM-7',
              suppliers: ['aliyun-main'],
              requestHash: 'x',
            },
          },
        ],
        'no_stream',
      );
    }
    const head = await side.deps.eventStore.headPosition();
    const pipeline = createPipeline();
    const running = runProjection(
      projection,
      { ...side.deps, pipeline },
      { maxWaitMs: 1, poisonAttempts: 3 },
    );
    try {
      assert.equal(await running.waitFor(head, 60_000), true, 'the projection got past it');
    } finally {
      await running.close();
    }
    const parked = await parkedEvents(side.deps.mysql, 'message_history@1');
    assert.deepEqual(
      parked.map((p) => p.streamId),
      [`message-${poisonId}`],
    );
    assert.match(parked[0]!.error, /cannot fold/);
    const [rows] = (await side.deps.mysql.query(
      'SELECT message_id FROM message_history ORDER BY message_id',
    )) as unknown as [{ message_id: string }[]];
    assert.deepEqual(
      rows.map((r) => r.message_id),
      ids.filter((id) => id !== poisonId).sort(),
      'the other messages are projected',
    );
    const status = await systemStatus(side.deps);
    assert.equal(status.projections.find((p) => p.projection === 'message_history@1')?.parked, 1);
    assert.equal(status.parked.length, 1);

    // the cause fixed: a retry rebuilds message_history and clears the parked event
    poisoned = false;
    const result = await retryParked(side.deps, 'message_history');
    assert.equal(result.parked, 1);
    assert.equal(result.cleared, 1);
    assert.deepEqual(await parkedEvents(side.deps.mysql, 'message_history@1'), []);
    const [after] = (await side.deps.mysql.query(
      'SELECT message_id FROM message_history ORDER BY message_id',
    )) as unknown as [{ message_id: string }[]];
    assert.deepEqual(
      after.map((r) => r.message_id),
      [...ids].sort(),
      'the parked message is in the read model now',
    );
  });
});
