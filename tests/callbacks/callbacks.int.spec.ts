// Callback endpoints through the command and query APIs, and the callback
// sender against real receivers on loopback: signed bodies of one stable
// schema, in order per message, retried with backoff, dead-lettered and
// replayed, paused and resumed, a send's own statusCallback, the SSRF guard.
// Message outcomes are appended through the message decider (the
// dispatcher's and receipts' work is tested elsewhere; the e2e test runs them).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { startCommandService } from '../../command-service/index.ts';
import { startQueryService, type RunningQueryService } from '../../query-service/index.ts';
import { createKafka } from '../../platform/clients/index.ts';
import { noTracker } from '../../platform/tracking/index.ts';
import { startCallbacks, type ProcessorDeps, type Running } from '../../processors/index.ts';
import { decideAndAppend } from '../../processors/messages.ts';
import { callbackPayloadSchema } from '../../schemas/callbacks.ts';
import { member, randomMobile, startHarness, template, type Harness } from '../command/harness.ts';
import { startReceiver, until, type Receiver } from './receiver.ts';

const ajv = new Ajv.default({ strict: false });
addFormats.default(ajv);
const validPayload = ajv.compile(callbackPayloadSchema);

describe('callbacks', () => {
  let h: Harness;
  let query: RunningQueryService;
  let mongo: MongoClient;
  let sender: Running;
  let tenant: { token: string; userId: string };
  let code: string;

  const q = async (path: string, token = tenant.token) => {
    const res = await fetch(new URL(path, query.url), {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const register = async (receiver: Receiver, events: string[], secret?: string) => {
    const r = await h.call('POST', '/v1/callbacks', {
      token: tenant.token,
      body: { url: receiver.url, events, ...(secret ? { secret } : {}) },
    });
    assert.equal(r.status, 201, r.text);
    receiver.secrets.push(String(r.json.secret));
    return { id: String(r.json.callbackId), position: Number(r.json.position) };
  };
  const send = async (extra: Record<string, unknown> = {}) => {
    const r = await h.call('POST', '/v1/messages', {
      token: tenant.token,
      body: {
        templateCode: code,
        mobile: randomMobile(),
        params: { name: 'Li', order: '7' },
        ...extra,
      },
    });
    assert.equal(r.status, 202, r.text);
    return String(r.json.messageId);
  };
  const deliver = async (messageId: string) => {
    const store = h.deps.eventStore;
    await decideAndAppend(
      store,
      messageId,
      {
        type: 'RecordSubmission',
        data: { supplierAccount: 'sim-aliyun', supplierMessageId: `biz-${messageId}` },
      },
      {},
    );
    await decideAndAppend(
      store,
      messageId,
      {
        type: 'RecordDelivery',
        data: {
          supplierAccount: 'sim-aliyun',
          supplierMessageId: `biz-${messageId}`,
          deliveredAt: new Date().toISOString(),
        },
      },
      {},
    );
  };
  const deliveries = async (id: string, status?: string) => {
    const r = await q(`/v1/callbacks/${id}/deliveries${status ? `?status=${status}` : ''}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json.items as {
      deliveryId: string;
      state: string;
      attempts: number;
      lastError?: string;
      type: string;
    }[];
  };

  before(async () => {
    h = await startHarness('callbacks');
    mongo = new MongoClient('mongodb://127.0.0.1:27017', { retryWrites: false });
    const deps = {
      config: h.config,
      logger: h.deps.logger,
      eventStore: h.deps.eventStore,
      mysql: h.db.pool,
      redis: h.redis,
      mongo: { client: mongo, db: mongo.db(`streaming_t_callbacks_${Date.now()}`) },
      redisPrefix: h.prefix,
    };
    query = await startQueryService(deps, { port: 0 });
    const processorDeps: ProcessorDeps = {
      ...deps,
      kafka: createKafka(h.config),
      tracker: noTracker,
    };
    sender = await startCallbacks(processorDeps, {
      retryBaseMs: 50,
      retryMaxMs: 300,
      retryForMs: 1_000,
      pauseAfterMs: 5_000,
      pollMs: 50,
    });
    tenant = await member(h, 'cb');
    code = await template(h, tenant.token);
  });

  after(async () => {
    await sender?.close();
    await query?.close();
    await mongo?.close();
    await h?.close();
  });

  it('registers, lists, changes and deletes endpoints, with stable codes and no other tenant', async () => {
    const rx = await startReceiver();
    try {
      const { id, position } = await register(rx, ['message.failed', 'message.delivered']);
      assert.match(rx.secrets[0]!, /^whsec_/);
      const list = await q(`/v1/callbacks?after=${position}`);
      assert.equal(list.status, 200, JSON.stringify(list.json));
      const mine = (
        list.json.items as { callbackId: string; events: string[]; status: string }[]
      ).find((x) => x.callbackId === id);
      assert.deepEqual(mine?.events, ['message.delivered', 'message.failed']);
      assert.equal(mine?.status, 'active');
      assert.equal(
        JSON.stringify(list.json).includes('whsec_'),
        false,
        'the secret is never listed',
      );

      const bad = async (body: unknown, code: string, reason?: string) => {
        const r = await h.call('POST', '/v1/callbacks', { token: tenant.token, body });
        assert.equal(r.json.code, code, r.text);
        assert.ok(r.status >= 400 && r.status < 500, r.text);
        if (reason) assert.equal((r.json.details as { reason?: string }).reason, reason);
      };
      await bad(
        { url: 'ftp://x.example/', events: ['message.failed'] },
        'CALLBACK_URL_INVALID',
        'SCHEME',
      );
      await bad({ url: rx.url, events: ['message.read'] }, 'CALLBACK_EVENTS_INVALID');
      await bad({ url: rx.url, events: [] }, 'VALIDATION_FAILED');
      await bad(
        { url: 'http://no-such-host.invalid/', events: ['message.failed'] },
        'CALLBACK_URL_FORBIDDEN',
        'UNRESOLVABLE',
      );

      const other = await member(h, 'other');
      const foreign = await h.call('DELETE', `/v1/callbacks/${id}`, { token: other.token });
      assert.deepEqual([foreign.status, foreign.json.code], [404, 'CALLBACK_NOT_FOUND']);
      assert.equal((await q(`/v1/callbacks/${id}`, other.token)).status, 404);
      assert.equal((await q(`/v1/callbacks/${id}/deliveries`, other.token)).status, 404);

      const patched = await h.call('PATCH', `/v1/callbacks/${id}`, {
        token: tenant.token,
        body: { events: ['inbound.received'] },
      });
      assert.equal(patched.status, 200, patched.text);
      const got = await q(`/v1/callbacks/${id}?after=${Number(patched.json.position)}`);
      assert.deepEqual(got.json.events, ['inbound.received']);

      const del = await h.call('DELETE', `/v1/callbacks/${id}`, { token: tenant.token });
      assert.equal(del.status, 204);
      const again = await h.call('DELETE', `/v1/callbacks/${id}`, { token: tenant.token });
      assert.equal(again.status, 404);
      const missing = await q(
        `/v1/callbacks/${id}?after=${await h.deps.eventStore.headPosition()}`,
      );
      assert.equal(missing.status, 404);
    } finally {
      await rx.close();
    }
  });

  it('sends a signed test event, and every status change of a message in order with the stable schema', async () => {
    const rx = await startReceiver();
    const own = await startReceiver();
    try {
      const { id } = await register(
        rx,
        ['message.submitted', 'message.delivered'],
        'a-secret-of-sixteen+',
      );
      const test = await h.call('POST', `/v1/callbacks/${id}/test`, { token: tenant.token });
      assert.equal(test.status, 202, test.text);
      const t = await until('the test event', () =>
        rx.accepted.find((x) => x.id === test.json.testEventId),
      );
      assert.equal(t.type, 'callback.test');
      assert.equal(t.data.callbackId, id);

      const secret = await q('/v1/callbacks/signing-secret');
      own.secrets.push(String(secret.json.secret));
      const ids = [await send({ statusCallback: own.url }), await send(), await send()];
      for (const m of ids) await deliver(m);
      await until('every status of every message', () =>
        ids.every((m) => rx.accepted.filter((x) => x.data.messageId === m).length === 2),
      );
      for (const m of ids) {
        const mine = rx.accepted.filter((x) => x.data.messageId === m);
        assert.deepEqual(
          mine.map((x) => x.data.status),
          ['submitted', 'delivered'],
        );
        assert.equal(mine[0]!.data.supplierMessageId, `biz-${m}`);
        assert.equal(mine[0]!.data.templateCode, code);
      }
      for (const x of rx.accepted) {
        assert.ok(validPayload(JSON.parse(x.raw)), JSON.stringify(validPayload.errors));
        assert.equal(x.headers['streaming-event-id'], x.id);
      }
      // the send's own statusCallback, signed with the tenant's signing secret
      await until('the statusCallback', () => own.accepted.length === 2);
      assert.deepEqual(
        own.accepted.map((x) => [x.data.messageId, x.data.status]),
        [
          [ids[0], 'submitted'],
          [ids[0], 'delivered'],
        ],
      );
      assert.deepEqual([rx.badSignatures, own.badSignatures], [[], []]);
      const listed = await deliveries(id, 'delivered');
      assert.equal(listed.length, 7);
    } finally {
      await rx.close();
      await own.close();
    }
  });

  it('retries a failing receiver with backoff; dead-letters after the retry window; replays', async () => {
    const rx = await startReceiver();
    try {
      const { id } = await register(rx, ['message.submitted', 'message.delivered']);
      rx.failing = true;
      const m = await send();
      await deliver(m);
      // the first status is retried; the second waits behind it (in order per message)
      await until('a few failed attempts', () => rx.failed >= 3);
      const dead = await until(
        'both dead-lettered',
        async () => {
          const failed = await deliveries(id, 'failed');
          return failed.length === 2 ? failed : undefined;
        },
        20_000,
      );
      assert.ok(
        dead.every((d) => d.attempts >= 2 && /HTTP 500/.test(String(d.lastError))),
        JSON.stringify(dead),
      );
      // each one recorded on the endpoint's stream as well
      await until('both dead letters on the stream', async () => {
        const letters = (await h.deps.eventStore.readStream(`callback-${id}`)).filter(
          (e) => e.type === 'callback.delivery-dead-lettered.v1',
        );
        return letters.length === 2;
      });
      assert.equal(rx.accepted.length, 0);

      rx.failing = false;
      const replay = await h.call('POST', `/v1/callbacks/${id}/replay`, { token: tenant.token });
      assert.equal(replay.status, 202, replay.text);
      await until('the replayed statuses', () => rx.accepted.length === 2);
      assert.deepEqual(rx.accepted.map((x) => x.data.status).sort(), ['delivered', 'submitted']);
      assert.equal((await deliveries(id, 'failed')).length, 0);
    } finally {
      await rx.close();
    }
  });

  it('pauses an endpoint failing for too long, says why, and resumes it on request', async () => {
    const rx = await startReceiver();
    try {
      const { id } = await register(rx, ['message.submitted']);
      rx.failing = true;
      const paused = await until(
        'the pause',
        async () => {
          // keep events coming, as a live system does
          await h.call('POST', `/v1/callbacks/${id}/test`, { token: tenant.token });
          const r = await q(`/v1/callbacks/${id}`);
          return r.json.status === 'paused' ? r.json : undefined;
        },
        20_000,
      );
      const reason = paused.paused as { code: string; message: string };
      assert.equal(reason.code, 'ENDPOINT_FAILING');
      assert.match(reason.message, /HTTP 500/);
      // held while paused: nothing is sent
      const before = rx.failed;
      const m = await send();
      await deliver(m);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(rx.failed, before);
      rx.failing = false;
      const resumed = await h.call('POST', `/v1/callbacks/${id}/resume`, { token: tenant.token });
      assert.equal(resumed.status, 200, resumed.text);
      await until('the held status', () => rx.accepted.some((x) => x.data.messageId === m));
      const r = await q(`/v1/callbacks/${id}`);
      assert.equal(r.json.status, 'active');
    } finally {
      await rx.close();
    }
  });

  it('in production refuses loopback callback URLs, at registration and on a send', async () => {
    const config = { ...h.config, callbacks: { ...h.config.callbacks, allowPrivate: false } };
    const prod = await startCommandService({ ...h.deps, config }, { port: 0 });
    try {
      const call = async (path: string, body: unknown) => {
        const res = await fetch(new URL(path, prod.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      for (const url of [
        'http://127.0.0.1:9/x',
        'http://localhost:9/x',
        'http://[::1]:9/',
        'http://169.254.169.254/',
      ]) {
        const r = await call('/v1/callbacks', { url, events: ['message.failed'] });
        assert.deepEqual([r.status, r.json.code], [422, 'CALLBACK_URL_FORBIDDEN'], url);
      }
      const s = await call('/v1/messages', {
        templateCode: code,
        mobile: randomMobile(),
        params: { name: 'Li', order: '7' },
        statusCallback: 'http://10.0.0.1/hook',
      });
      assert.deepEqual([s.status, s.json.code], [422, 'CALLBACK_URL_FORBIDDEN']);
    } finally {
      await prod.close();
    }
  });
});
