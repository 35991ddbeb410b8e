// The pump: 10,000 tracking events on a test topic, 10% of them delivered
// twice and 1% malformed → raw events stored once, minute aggregates exact
// (expected values computed here independently), malformed ones dead-lettered;
// a redelivered batch changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, type Db } from 'mongodb';
import type { Kafka } from 'kafkajs';
import { loadConfig } from '../../platform/config/index.ts';
import { createKafka } from '../../platform/clients/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import {
  dropOldMinutes,
  markDirty,
  minuteTallies,
  processBatch,
  recomputeDirty,
  RECENT_DROP_MS,
  startPump,
  TRACKING_DEADLETTER,
  TRACKING_DIRTY,
  TRACKING_EVENTS,
  TRACKING_MINUTES,
  TRACKING_WRITERS,
  type Pump,
} from '../../pump/index.ts';

const config = loadConfig({ STREAMING_ENV: 'test' });
const logger = createLogger({ logLevel: 'error' }, { stream: process.stderr });
const TOTAL = 10_000;
const MALFORMED = TOTAL / 100;
const VALID = TOTAL - MALFORMED;
const TWICE = TOTAL / 10;

// A deterministic generator, so a failure can be reproduced.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Ev {
  id: string;
  type: string;
  at: string;
  service: string;
  supplierAccount?: string;
  outcome?: string;
  code?: string;
  latencyMs?: number;
  rule?: string;
  kind?: string;
  tenantId?: string;
}

function generate(base: number): { valid: Ev[]; malformed: string[] } {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const valid: Ev[] = [];
  for (let i = 0; i < VALID; i++) {
    const at = new Date(base + Math.floor(r() * 10 * 60_000)).toISOString();
    const x = r();
    const e: Ev = { id: randomUUID(), type: '', at, service: 'test', tenantId: pick(['t1', 't2']) };
    if (x < 0.5) {
      e.type = 'supplier.call';
      e.supplierAccount = pick(['sim-aliyun', 'sim-tencent']);
      e.outcome = pick(['accepted', 'accepted', 'accepted', 'rejected', 'transient', 'unknown']);
      if (e.outcome === 'rejected')
        e.code = pick(['isv.BUSINESS_LIMIT_CONTROL', 'FailedOperation']);
      if (r() < 0.95) e.latencyMs = Math.floor(r() * 2000) + Math.round(r() * 100) / 100;
    } else if (x < 0.75) {
      e.type = 'send.accepted';
    } else if (x < 0.9) {
      e.type = 'send.rejected';
      e.rule = pick(['RATE_LIMIT_MOBILE_HOURLY', 'RATE_LIMIT_TENANT_DAILY', 'MOBILE_OPTED_OUT']);
    } else {
      e.type = 'webhook.received';
      e.kind = pick(['receipts', 'inbound']);
    }
    valid.push(e);
  }
  const bad = (i: number): string => {
    const ok = {
      id: `bad-${i}`,
      type: 'send.accepted',
      at: new Date(base).toISOString(),
      service: 'test',
    };
    switch (i % 6) {
      case 0:
        return `{not json ${i}`;
      case 1:
        return JSON.stringify({ ...ok, id: undefined, n: i });
      case 2:
        return JSON.stringify({ ...ok, type: 'send.exploded' });
      case 3:
        return JSON.stringify({ ...ok, type: 'supplier.call', latencyMs: -i });
      case 4:
        return JSON.stringify({ ...ok, at: `yesterday-${i}` });
      default:
        return JSON.stringify({ ...ok, surprise: i });
    }
  };
  return { valid, malformed: Array.from({ length: MALFORMED }, (_, i) => bad(i)) };
}

// --- the expected aggregates, computed independently of pump/ -------------
function nearestRank(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p * s.length) / 100) - 1)]!;
}

function expectedMinutes(events: Ev[]) {
  const vendors: Record<string, string> = { 'sim-aliyun': 'aliyun', 'sim-tencent': 'tencent' };
  const byMinute = new Map<string, Ev[]>();
  for (const e of events) {
    const m = new Date(Math.floor(Date.parse(e.at) / 60_000) * 60_000).toISOString();
    byMinute.set(m, [...(byMinute.get(m) ?? []), e]);
  }
  const tally = (xs: (string | undefined)[], name: string) => {
    const counts: Record<string, number> = {};
    for (const x of xs) if (x !== undefined) counts[x] = (counts[x] ?? 0) + 1;
    return Object.keys(counts)
      .sort()
      .map((k) => ({ [name]: k, count: counts[k] }));
  };
  const out = new Map<string, unknown>();
  for (const [minute, evs] of byMinute) {
    const of = (t: string) => evs.filter((e) => e.type === t);
    const calls = of('supplier.call');
    const groups = [...new Set(calls.map((c) => `${c.supplierAccount}|${c.outcome}`))].sort();
    out.set(minute, {
      _id: minute,
      total: evs.length,
      counts: {
        sendAccepted: of('send.accepted').length,
        sendRejected: of('send.rejected').length,
        supplierCall: calls.length,
        webhookReceived: of('webhook.received').length,
        receiptMismatched: of('receipt.mismatched').length,
      },
      receiptMismatches: [],
      rejections: tally(
        of('send.rejected').map((e) => e.rule),
        'rule',
      ),
      webhooks: tally(
        of('webhook.received').map((e) => e.kind),
        'kind',
      ),
      suppliers: groups.map((g) => {
        const [account, outcome] = g.split('|') as [string, string];
        const group = calls.filter((c) => c.supplierAccount === account && c.outcome === outcome);
        const lat = group.flatMap((c) => (c.latencyMs === undefined ? [] : [c.latencyMs]));
        return {
          account,
          vendor: vendors[account],
          outcome,
          count: group.length,
          latency: lat.length
            ? {
                count: lat.length,
                min: Math.min(...lat),
                max: Math.max(...lat),
                sum: lat.reduce((a, b) => a + b, 0),
                p50: nearestRank(lat, 50),
                p95: nearestRank(lat, 95),
                p99: nearestRank(lat, 99),
              }
            : null,
          codes: tally(
            group.map((c) => c.code),
            'code',
          ),
        };
      }),
    });
  }
  return out;
}

function normalize(doc: Record<string, unknown>) {
  const { computedAt: _c, minute: _m, ...rest } = doc;
  const suppliers = (rest.suppliers as { latency: { sum: number } | null }[]).map((s) =>
    s.latency ? { ...s, latency: { ...s.latency, sum: Math.round(s.latency.sum * 100) / 100 } } : s,
  );
  return { ...rest, suppliers };
}

describe('tracking pump', () => {
  let kafka: Kafka;
  let mongo: MongoClient;
  let db: Db;
  let pump: Pump | undefined;
  const topic = `t.tracking.${randomBytes(4).toString('hex')}`;
  // ten minutes of events, about half of them recent enough to be kept in
  // their minute's own collection (RECENT_MINUTES_MS), the rest read from tracking_events
  const base = Math.floor(Date.now() / 60_000) * 60_000 - 15 * 60_000;
  const { valid, malformed } = generate(base);
  const twice = valid.slice(0, TWICE);

  before(async () => {
    kafka = createKafka(config);
    mongo = new MongoClient('mongodb://127.0.0.1:27017', { retryWrites: false });
    db = mongo.db(`streaming_t_${randomBytes(4).toString('hex')}`);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
    await admin.disconnect();
  });
  after(async () => {
    await pump?.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await db.dropDatabase();
    await mongo.close();
  });

  it('stores each event once, aggregates exactly and dead-letters the malformed', async () => {
    // produced: every valid event, 10% of them again later, and the malformed mixed in
    const values: string[] = valid.map((e) => JSON.stringify(e));
    malformed.forEach((m, i) => values.splice(((i * 97) % values.length) + 1, 0, m));
    values.push(...twice.map((e) => JSON.stringify(e)));
    assert.equal(values.length, TOTAL + TWICE);

    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < values.length; i += 1000) {
      await producer.send({
        topic,
        messages: values
          .slice(i, i + 1000)
          .map((value, j) => ({ key: String((i + j) % 16), value })),
      });
    }
    await producer.disconnect();

    pump = await startPump({
      config,
      logger,
      mongo: { client: mongo, db },
      kafka,
      topic,
      groupId: `t-pump-${randomBytes(4).toString('hex')}`,
    });

    const expected = expectedMinutes(valid);
    // a property, not a timing: on a loaded machine the recompute rounds back
    // off (five times the last round's time), so the wait is generous; a lost
    // aggregate still fails it
    const started = Date.now();
    const deadline = started + 420_000;
    let docs: Record<string, unknown>[];
    for (;;) {
      const [raw, dead] = await Promise.all([
        db.collection(TRACKING_EVENTS).countDocuments(),
        db.collection(TRACKING_DEADLETTER).countDocuments(),
      ]);
      docs = await db.collection(TRACKING_MINUTES).find().sort({ _id: 1 }).toArray();
      const totals = docs.reduce((n, d) => n + Number(d.total), 0);
      if (raw === VALID && dead === MALFORMED && totals === VALID) break;
      if (Date.now() > deadline) {
        const marks = await db.collection(TRACKING_DIRTY).countDocuments();
        assert.fail(
          `pump incomplete after ${Math.round((Date.now() - started) / 1000)} s: raw ${raw}/${VALID},` +
            ` dead ${dead}/${MALFORMED}, totals ${totals}, minutes still marked ${marks}`,
        );
      }
      await sleep(250);
    }
    await pump.close();
    pump = undefined;

    assert.equal(docs.length, expected.size);
    for (const doc of docs) {
      assert.deepEqual(
        normalize(doc),
        normalize(expected.get(String(doc._id)) as Record<string, unknown>),
      );
    }

    // raw events enriched with the vendor, `at` stored as a Date
    const call = valid.find(
      (e) => e.type === 'supplier.call' && e.supplierAccount === 'sim-tencent',
    )!;
    const stored = await db
      .collection<{ _id: string; vendor?: string; at?: Date }>(TRACKING_EVENTS)
      .findOne({ _id: call.id });
    assert.equal(stored?.vendor, 'tencent');
    assert.ok(stored?.at instanceof Date);

    // the dead letters keep the reason and the raw value
    const letters = await db.collection(TRACKING_DEADLETTER).find().toArray();
    assert.deepEqual(letters.map((l) => l.raw).sort(), [...malformed].sort());
    assert.ok(letters.every((l) => typeof l.reason === 'string' && l.reason.length > 0));
    assert.ok(letters.some((l) => String(l.reason).startsWith('not JSON')));

    // a redelivered batch (here: all of it once more) changes nothing
    for (let i = 0; i < values.length; i += 2000) {
      await processBatch(
        db,
        config.suppliers,
        values.slice(i, i + 2000).map((value) => ({ value })),
      );
    }
    const again = await db.collection(TRACKING_MINUTES).find().sort({ _id: 1 }).toArray();
    assert.deepEqual(again.map(normalize), docs.map(normalize));
    assert.equal(await db.collection(TRACKING_EVENTS).countDocuments(), VALID);
    assert.equal(await db.collection(TRACKING_DEADLETTER).countDocuments(), MALFORMED);

    // the recent minutes' own collections, dropped once their minutes are old
    const minuteCollections = async () =>
      (await db.listCollections({}, { nameOnly: true }).toArray())
        .map((c) => c.name)
        .filter((n) => n.startsWith('tracking_recent_'));
    assert.ok((await minuteCollections()).length > 0);
    await dropOldMinutes(db, Date.now() + RECENT_DROP_MS);
    assert.deepEqual(await minuteCollections(), []);
  });

  it('aggregates a minute from its tally only while no other pump wrote into it', async () => {
    const own = mongo.db(`streaming_t_${randomBytes(4).toString('hex')}`);
    try {
      const minute = Math.floor(Date.now() / 60_000) * 60_000;
      const call = (i: number) =>
        JSON.stringify({
          id: randomUUID(),
          type: 'supplier.call',
          at: new Date(minute + (i % 50) * 1000).toISOString(),
          service: 'test',
          supplierAccount: 'sim-aliyun',
          outcome: 'accepted',
          latencyMs: i,
        });
      const total = async () =>
        (
          await own
            .collection<{ _id: string; total: number }>(TRACKING_MINUTES)
            .findOne({ _id: new Date(minute).toISOString() })
        )?.total;
      const [a, b] = [minuteTallies(), minuteTallies()];
      const batch = async (tallies: typeof a, values: string[]) => {
        const r = await processBatch(
          own,
          config.suppliers,
          values.map((value) => ({ value })),
          {
            deferMinutes: true,
            tallies,
          },
        );
        await markDirty(own, r.minuteDates);
      };

      // one pump alone: its tally, redelivered events counted once
      const first = Array.from({ length: 40 }, (_, i) => call(i));
      await batch(a, first);
      await batch(a, first.slice(0, 10));
      await recomputeDirty(own, a);
      assert.equal(await total(), 40);
      assert.equal(
        (await own.collection(TRACKING_MINUTES).findOne())?.suppliers[0].latency.p50,
        19,
      );

      // a second pump writes into the same minute: neither tally is the whole minute
      await batch(b, [...first.slice(30), ...Array.from({ length: 25 }, (_, i) => call(100 + i))]);
      assert.equal(await own.collection(TRACKING_WRITERS).countDocuments(), 2);
      await recomputeDirty(own, a);
      assert.equal(await total(), 65);
      await batch(b, [call(200)]);
      await recomputeDirty(own, b);
      assert.equal(await total(), 66);
    } finally {
      await own.dropDatabase();
    }
  });
});
