// The one command handler (platform/commandHandling) on the MySQL event store:
// a version conflict re-runs the decision on the fresh stream (never appends a
// stale one), deciding nothing appends nothing, a refusal appends nothing, and
// a conflict that outlives the retries reaches the caller as 409 VERSION_CONFLICT.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import {
  MysqlEventStore,
  aggregateStream,
  WrongExpectedVersionError,
  type EventStore,
} from '../../platform/eventStore/index.ts';
import { toProblem } from '../../platform/errors/index.ts';
import { commandHandler, CONFLICT_RETRIES } from '../../platform/commandHandling/index.ts';
import {
  DomainError,
  optOutDecider,
  type OptOutCommand,
  type OptOutState,
} from '../../domain/index.ts';

const tenantId = 'acme';
const handleOptOut = commandHandler(optOutDecider, (mobile) => `optout-${tenantId}-${mobile}`);
const meta = { actor: { type: 'system' as const, id: 'test' } };
const toggle =
  (mobile: string) =>
  (state: OptOutState): OptOutCommand => ({
    type: state.optedOut ? 'OptIn' : 'OptOut',
    data: { tenantId, mobile, keyword: 'API' },
  });

describe('command handler', () => {
  let db: TestDatabase;
  let store: EventStore;

  before(async () => {
    db = await freshDatabase('command_handler');
    store = await MysqlEventStore.create(db.pool);
  });
  after(async () => {
    await store.close();
    await db.drop();
  });

  it('re-decides on the fresh stream after a conflict: concurrent toggles all land, alternating', async () => {
    const mobile = `+86138${String(Date.now()).slice(-8)}`;
    const writers = Math.min(6, CONFLICT_RETRIES);
    const results = await Promise.all(
      Array.from({ length: writers }, () => handleOptOut(store, mobile, toggle(mobile), meta)),
    );
    assert.ok(results.every((r) => r.events.length === 1));
    const events = await store.readStream(`optout-${tenantId}-${mobile}`);
    assert.equal(events.length, writers);
    events.forEach((e, i) =>
      assert.equal(e.type, i % 2 === 0 ? 'mobile.opted-out.v1' : 'mobile.opted-in.v1'),
    );
    assert.deepEqual(
      results.map((r) => r.version).sort((a, b) => a - b),
      events.map((e) => e.streamVersion),
    );
  });

  it('a stale read passed in is decided again on the stream as it is', async () => {
    const mobile = `+86139${String(Date.now()).slice(-8)}`;
    const stream = `optout-${tenantId}-${mobile}`;
    const stale = await aggregateStream(store, optOutDecider, stream);
    await handleOptOut(store, mobile, toggle(mobile), meta); // opts out meanwhile
    const done = await handleOptOut(store, mobile, toggle(mobile), meta, { loaded: stale });
    // decided on the stale (empty) stream it would have opted out again
    assert.equal(done.events[0]?.type, 'mobile.opted-in.v1');
    assert.equal(done.state.optedOut, false);
    assert.equal((await store.readStream(stream)).length, 2);
  });

  it('nothing to decide, or a refusal, appends nothing', async () => {
    const mobile = `+86137${String(Date.now()).slice(-8)}`;
    const stream = `optout-${tenantId}-${mobile}`;
    const none = await handleOptOut(store, mobile, () => undefined, meta);
    assert.deepEqual(
      { events: none.events, version: none.version, expected: none.expected },
      { events: [], version: -1, expected: 'no_stream' },
    );
    const already = await handleOptOut(
      store,
      mobile,
      { type: 'OptIn', data: { tenantId, mobile, keyword: 'API' } },
      meta,
    );
    assert.deepEqual(already.events, []);
    await assert.rejects(
      handleOptOut(
        store,
        mobile,
        () => {
          throw new DomainError('MOBILE_OPTED_OUT', 'refused');
        },
        meta,
      ),
      { code: 'MOBILE_OPTED_OUT' },
    );
    assert.equal((await store.readStream(stream)).length, 0);
  });

  it('a conflict that outlives the retries is thrown, and answered 409 VERSION_CONFLICT', async () => {
    const mobile = `+86136${String(Date.now()).slice(-8)}`;
    const stream = `optout-${tenantId}-${mobile}`;
    // another writer gets there first before every attempt: a real conflict in MySQL each time
    let attempts = 0;
    const contended: Pick<EventStore, 'readStream' | 'append'> = {
      readStream: (id, options) => store.readStream(id, options),
      append: async (id, events, expected) => {
        attempts += 1;
        await handleOptOut(store, mobile, toggle(mobile), meta);
        return store.append(id, events, expected);
      },
    };
    const err = await handleOptOut(contended, mobile, toggle(mobile), meta).then(
      () => assert.fail('appended despite a conflict on every attempt'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WrongExpectedVersionError, String(err));
    assert.equal(attempts, CONFLICT_RETRIES + 1, 'the first attempt and every retry');
    // only the competitor's events were written
    assert.equal((await store.readStream(stream)).length, attempts);
    const { status, body } = toProblem(err, 'req-1');
    assert.equal(status, 409);
    assert.equal(body.code, 'VERSION_CONFLICT');
  });
});
