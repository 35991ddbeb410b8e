// The contract every EventStore adapter must pass. Run by
// mysql.int.spec.ts and kurrentdb.int.spec.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  InvalidEventError,
  WrongExpectedVersionError,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
} from '../../platform/eventStore/index.ts';

export interface ContractTarget {
  store: EventStore;
  /** Environment for a child process that opens the same store (see appender.ts). */
  childEnv: Record<string, string>;
  cleanup(): Promise<void>;
}

const appender = fileURLToPath(new URL('./appender.ts', import.meta.url));

function retention(n: number): NewEvent {
  return {
    type: 'retention.applied.v1',
    data: {
      tenantId: 't',
      count: n,
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-02T00:00:00.000Z',
    },
  };
}

function collect(store: EventStore, after: number, until: (seen: RecordedEvent[]) => boolean) {
  const seen: RecordedEvent[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const subscription = store.subscribe({
    after,
    batchSize: 250,
    onEvents: async (events) => {
      seen.push(...events);
      if (until(seen)) done();
    },
  });
  return { seen, finished, subscription };
}

function runChild(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [appender], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`appender exited ${code}`)),
    );
  });
}

export function eventStoreContract(name: string, open: () => Promise<ContractTarget>): void {
  describe(`event store contract: ${name}`, () => {
    let target: ContractTarget;
    let store: EventStore;
    before(async () => {
      target = await open();
      store = target.store;
    });
    after(async () => {
      await target.cleanup();
    });

    test('no_stream creates; a second no_stream is a typed conflict that writes nothing', async () => {
      const stream = `contract-${randomUUID()}`;
      const first = await store.append(stream, [retention(1)], 'no_stream');
      assert.equal(first.nextExpectedVersion, 0);
      await assert.rejects(store.append(stream, [retention(2)], 'no_stream'), (err) => {
        assert.ok(err instanceof WrongExpectedVersionError);
        assert.equal(err.code, 'VERSION_CONFLICT');
        assert.equal(err.actual, 0);
        return true;
      });
      const events = await store.readStream(stream);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.data.count, 1);
    });

    test('exact version, stream_exists and any', async () => {
      const stream = `contract-${randomUUID()}`;
      await assert.rejects(
        store.append(stream, [retention(0)], 'stream_exists'),
        WrongExpectedVersionError,
      );
      await assert.rejects(store.append(stream, [retention(0)], 0), WrongExpectedVersionError);
      await store.append(stream, [retention(1)], 'any');
      const second = await store.append(stream, [retention(2)], 0);
      assert.equal(second.nextExpectedVersion, 1);
      await assert.rejects(store.append(stream, [retention(3)], 0), (err) => {
        assert.ok(err instanceof WrongExpectedVersionError);
        assert.equal(err.actual, 1);
        return true;
      });
      await store.append(stream, [retention(3)], 'stream_exists');
      const events = await store.readStream(stream);
      assert.deepEqual(
        events.map((e) => [e.streamVersion, e.data.count]),
        [
          [0, 1],
          [1, 2],
          [2, 3],
        ],
      );
    });

    test('readStreams: each stream as readStream reads it, with the options per stream', async () => {
      const a = `contract-${randomUUID()}`;
      const b = `contract-${randomUUID()}`;
      const none = `contract-${randomUUID()}`;
      await store.append(a, [retention(1), retention(2), retention(3)], 'no_stream');
      await store.append(b, [retention(7)], 'no_stream');
      const counts = (m: Map<string, RecordedEvent[]>, id: string) =>
        m.get(id)?.map((e) => e.data.count);
      const all = await store.readStreams([a, b, none, a]);
      assert.deepEqual([...all.keys()].sort(), [a, b, none].sort());
      assert.deepEqual(counts(all, a), [1, 2, 3]);
      assert.deepEqual(counts(all, b), [7]);
      assert.deepEqual(counts(all, none), []);
      assert.deepEqual(
        all.get(a),
        await store.readStream(a),
        'the same events, versions and positions',
      );
      const first = await store.readStreams([a, b], { limit: 1 });
      assert.deepEqual(counts(first, a), [1]);
      assert.deepEqual(counts(first, b), [7]);
      const rest = await store.readStreams([a, b], { fromVersion: 1, limit: 1 });
      assert.deepEqual(counts(rest, a), [2]);
      assert.deepEqual(counts(rest, b), []);
      assert.equal((await store.readStreams([])).size, 0);
    });

    test('an append of several events is atomic and keeps their order', async () => {
      const stream = `contract-${randomUUID()}`;
      const result = await store.append(
        stream,
        [retention(1), retention(2), retention(3)],
        'no_stream',
      );
      assert.equal(result.nextExpectedVersion, 2);
      // A failing multi-event append writes none of its events.
      await assert.rejects(store.append(stream, [retention(4), retention(5)], 1));
      const bad: NewEvent = { type: 'retention.applied.v1', data: { tenantId: 't' } };
      await assert.rejects(store.append(stream, [retention(6), bad], 2), InvalidEventError);
      const events = await store.readStream(stream);
      assert.deepEqual(
        events.map((e) => e.data.count),
        [1, 2, 3],
      );
      const positions = events.map((e) => e.position);
      assert.deepEqual(
        [...positions].sort((a, b) => a - b),
        positions,
      );
    });

    test('payloads are validated against their schema; unknown types are refused', async () => {
      const stream = `contract-${randomUUID()}`;
      await assert.rejects(
        store.append(stream, [{ type: 'nothing.v1', data: {} }], 'any'),
        InvalidEventError,
      );
      await assert.rejects(
        store.append(stream, [{ type: 'retention.applied.v1', data: { count: -1 } }], 'any'),
        InvalidEventError,
      );
      assert.equal((await store.readStream(stream)).length, 0);
    });

    test('metadata is completed and kept', async () => {
      const stream = `contract-${randomUUID()}`;
      const eventId = randomUUID();
      await store.append(
        stream,
        [
          {
            ...retention(1),
            metadata: {
              eventId,
              correlationId: 'corr-1',
              actor: { type: 'user', id: 'u1' },
              requestId: 'req-1',
            },
          },
        ],
        'no_stream',
      );
      const [event] = await store.readStream(stream);
      assert.equal(event!.eventId, eventId);
      assert.equal(event!.metadata.correlationId, 'corr-1');
      assert.equal(event!.metadata.causationId, null);
      assert.deepEqual(event!.metadata.actor, { type: 'user', id: 'u1' });
      assert.equal(event!.metadata.requestId, 'req-1');
      assert.ok(!Number.isNaN(Date.parse(event!.metadata.timestamp)));
    });

    test('readAll returns global order; a subscriber after P gets exactly what follows P, then live', async () => {
      const stream = `contract-${randomUUID()}`;
      await store.append(stream, [retention(1), retention(2)], 'no_stream');
      const p = await store.headPosition();
      await store.append(stream, [retention(3), retention(4)], 1);
      const all = await store.readAll({ after: 0, limit: 100_000 });
      for (let i = 1; i < all.length; i += 1) assert.ok(all[i]!.position > all[i - 1]!.position);

      const { seen, finished, subscription } = collect(
        store,
        p,
        (events) => events.filter((e) => e.streamId === stream).length >= 4,
      );
      await new Promise((r) => setTimeout(r, 200));
      await store.append(stream, [retention(5), retention(6)], 3);
      await finished;
      await subscription.stop();
      const mine = seen.filter((e) => e.streamId === stream).map((e) => e.data.count);
      assert.deepEqual(mine, [3, 4, 5, 6]);
      assert.ok(seen.every((e) => e.position > p));
    });

    test('4 processes appending concurrently (1,000 events each): one subscriber gets every event once, in order', async () => {
      const start = await store.headPosition();
      const expected = 4000;
      const { seen, finished, subscription } = collect(
        store,
        start,
        (events) =>
          events.filter(
            (e) => e.type === 'retention.applied.v1' && String(e.data.tenantId).startsWith('proc-'),
          ).length >= expected,
      );
      const outputs = await Promise.all(
        [0, 1, 2, 3].map((i) =>
          runChild({ ...target.childEnv, APPENDER_ID: `proc-${i}`, APPENDER_COUNT: '1000' }),
        ),
      );
      const written = new Set(outputs.flatMap((o) => o.trim().split('\n')));
      assert.equal(written.size, expected, 'each child reports the event ids it committed');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        finished,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`only ${seen.length} events seen`)), 60_000);
        }),
      ]);
      clearTimeout(timer);
      await subscription.stop();
      const mine = seen.filter((e) => String(e.data.tenantId).startsWith('proc-'));
      assert.equal(mine.length, expected, 'exactly once: no event twice');
      assert.equal(new Set(mine.map((e) => e.eventId)).size, expected);
      for (const e of mine) assert.ok(written.has(e.eventId), 'only committed events');
      for (let i = 1; i < seen.length; i += 1) {
        assert.ok(seen[i]!.position > seen[i - 1]!.position, 'global-position order');
      }
      // Per child, stream order is kept.
      for (const id of ['proc-0', 'proc-1', 'proc-2', 'proc-3']) {
        const counts = mine.filter((e) => e.data.tenantId === id).map((e) => Number(e.data.count));
        assert.equal(counts.length, 1000);
      }
    });

    test('several subscribers in one process (batches of 7 to 1,000, one by type, one started late) each get every event once, in order, while 4 processes append', async () => {
      const start = await store.headPosition();
      const perChild = 500;
      const expected = 4 * perChild;
      const ours = (e: RecordedEvent) =>
        e.type === 'retention.applied.v1' && String(e.data.tenantId).startsWith('multi-');
      const subscribe = (after: number, batchSize: number, types?: string[]) => {
        const seen: RecordedEvent[] = [];
        const subscription = store.subscribe({
          after,
          batchSize,
          ...(types ? { types } : {}),
          onEvents: async (events) => {
            seen.push(...events);
            // slow consumers too: they fall behind the fast ones
            if (batchSize < 10) await new Promise((r) => setTimeout(r, 1));
          },
        });
        return { after, seen, subscription };
      };
      const subscribers = [
        subscribe(start, 7),
        subscribe(start, 250),
        subscribe(start, 1000),
        subscribe(start, 100, ['retention.applied.v1']),
      ];
      const children = [0, 1, 2, 3].map((i) =>
        runChild({
          ...target.childEnv,
          APPENDER_ID: `multi-${i}`,
          APPENDER_COUNT: String(perChild),
        }),
      );
      // one more, from wherever the store is a moment later
      await new Promise((r) => setTimeout(r, 300));
      const late = subscribe(await store.headPosition(), 50);
      subscribers.push(late);
      const outputs = await Promise.all(children);
      const written = new Set(outputs.flatMap((o) => o.trim().split('\n')));
      assert.equal(written.size, expected);
      const head = await store.headPosition();
      const deadline = Date.now() + 60_000;
      while (subscribers.some((s) => s.subscription.position < head) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await Promise.all(subscribers.map((s) => s.subscription.stop()));
      const all = (await store.readAll({ after: start, limit: 100_000 })).filter(ours);
      assert.equal(all.length, expected);
      for (const s of subscribers) {
        const mine = s.seen.filter(ours);
        const wanted = all.filter((e) => e.position > s.after).map((e) => e.eventId);
        assert.deepEqual(
          mine.map((e) => e.eventId),
          wanted,
          `subscriber after ${s.after}: every event after it once, in order`,
        );
        for (let i = 1; i < s.seen.length; i += 1) {
          assert.ok(s.seen[i]!.position > s.seen[i - 1]!.position, 'global-position order');
        }
        for (const e of mine) assert.ok(written.has(e.eventId), 'only committed events');
      }
    });

    test('a subscriber stopped and restarted from its checkpoint neither skips nor repeats', async () => {
      const stream = `contract-${randomUUID()}`;
      const start = await store.headPosition();
      let expectedVersion: number | 'no_stream' = 'no_stream';
      for (let i = 0; i < 10; i += 1) {
        const r = await store.append(
          stream,
          [retention(i * 2), retention(i * 2 + 1)],
          expectedVersion,
        );
        expectedVersion = r.nextExpectedVersion;
      }
      const received: number[] = [];
      let checkpoint = start;
      const first = store.subscribe({
        after: start,
        batchSize: 3,
        onEvents: async (events) => {
          for (const e of events) if (e.streamId === stream) received.push(Number(e.data.count));
          checkpoint = events[events.length - 1]!.position;
          if (received.length >= 7) void first.stop();
        },
      });
      while (received.length < 7) await new Promise((r) => setTimeout(r, 20));
      await first.stop();
      const resumedAt = received.length;
      const second = store.subscribe({
        after: checkpoint,
        onEvents: async (events) => {
          for (const e of events) if (e.streamId === stream) received.push(Number(e.data.count));
          checkpoint = events[events.length - 1]!.position;
        },
      });
      while (received.length < 20) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      await second.stop();
      assert.ok(resumedAt >= 7 && resumedAt < 20);
      assert.deepEqual(
        received,
        Array.from({ length: 20 }, (_, i) => i),
      );
    });

    test('a subscriber filtered by type gets only those types, in order, and moves past the rest', async () => {
      const stream = `contract-${randomUUID()}`;
      const start = await store.headPosition();
      const other: NewEvent = {
        type: 'template.disabled.v1',
        data: { templateCode: 'x' },
      };
      await store.append(stream, [retention(1), other, retention(2), other], 'no_stream');
      const seen: RecordedEvent[] = [];
      const subscription = store.subscribe({
        after: start,
        types: ['retention.applied.v1'],
        batchSize: 1,
        onEvents: async (events) => {
          seen.push(...events.filter((e) => e.streamId === stream));
        },
      });
      const head = await store.headPosition();
      assert.equal(await subscription.waitFor(head, 10_000), true, 'reaches the head');
      await subscription.stop();
      assert.deepEqual(
        seen.map((e) => [e.type, e.data.count]),
        [
          ['retention.applied.v1', 1],
          ['retention.applied.v1', 2],
        ],
      );
    });

    test('deleteStream removes a stream', async () => {
      const stream = `contract-${randomUUID()}`;
      await store.append(stream, [retention(1)], 'no_stream');
      await store.deleteStream(stream);
      assert.equal((await store.readStream(stream)).length, 0);
    });
  });
}
