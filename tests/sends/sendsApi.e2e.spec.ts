// What tenants build on, over HTTP against the whole system as `npm start`
// runs it (command and query services, processors, the simulated vendors):
// - POST /v1/messages/{id}/cancel before submission → cancelled, final, never
//   submitted; after it → 409 MESSAGE_NOT_CANCELLABLE with the current status;
// - POST /v1/messages/batch: 1,000 recipients with 10 invalid numbers → 990
//   accepted, 10 refused with their code; the same request under the same
//   Idempotency-Key → the same answer and nothing sent twice; the vendors got
//   the batch in batch calls;
// - GET/POST/DELETE /v1/opt-outs with the read model: an opt-out (by the API,
//   or by a STOP reply) stops marketing, START or DELETE lets it go again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  approvedBySuppliers,
  call,
  eventually,
  startSystem,
  type RunningSystem,
} from '../support/system.ts';

type Obj = Record<string, unknown>;

describe('tenant sends API over HTTP (cancel, batch, opt-outs, quiet hours)', () => {
  let sys: RunningSystem;
  let token: string;
  let notice: string;
  let promo: string;
  let signature: string;

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${sys.command}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        ...headers,
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Obj };
  };
  const message = (id: string) => call(`${sys.query}/v1/messages/${id}`, 'GET', undefined, token);
  const statusOf = async (id: string) => {
    const r = await message(id);
    return r.status === 200 ? String(r.json.status) : undefined;
  };
  const reachedOneOf = (id: string, statuses: string[]) =>
    eventually(`${id} in ${statuses}`, async () => {
      const s = await statusOf(id);
      return s !== undefined && statuses.includes(s) ? s : undefined;
    });
  const simulator = async (path: string, method = 'GET', body?: unknown) => {
    const res = await fetch(`${sys.simulator}/admin${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as Obj;
  };
  /** How often the simulated vendors received each message, over every account. */
  const received = async () => (await simulator('/received')).byMessageId as Record<string, number>;
  const stats = async () => {
    let batchCalls = 0;
    let batchNumbers = 0;
    for (const id of ['sim-aliyun', 'sim-tencent']) {
      const s = await simulator(`/accounts/${id}/stats`);
      batchCalls += Number(s.batchCalls);
      batchNumbers += Number(s.batchNumbers);
    }
    return { batchCalls, batchNumbers };
  };

  before(async () => {
    sys = await startSystem('sendsapi', 18700);
    ({ token } = await sys.tenant());
    signature = `Snd${String(Date.now()).slice(-5)}`;
    const template = async (body: Obj) => {
      const r = await call(`${sys.command}/v1/templates`, 'POST', body, token);
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return String(r.json.templateCode);
    };
    notice = await template({
      name: 'notice',
      kind: 'notification',
      signature,
      content: 'Order ${order} shipped.',
    });
    promo = await template({
      name: 'promo',
      kind: 'marketing',
      signature,
      content: 'Sale on ${item}. Reply TD to opt out.',
    });
    await approvedBySuppliers(sys, token, notice, signature);
    await approvedBySuppliers(sys, token, promo, signature);
  });
  after(async () => {
    await sys?.stop();
  });

  it('cancel before submission: cancelled, final, never submitted; after: 409 with the status', async () => {
    const sendAt = new Date(Date.now() + 4_000).toISOString();
    const scheduled = await post('/v1/messages', {
      templateCode: notice,
      mobile: '+8613600000001',
      params: { order: '1' },
      sendAt,
    });
    assert.equal(scheduled.status, 202, JSON.stringify(scheduled.json));
    const id = String(scheduled.json.messageId);
    const cancelled = await post(`/v1/messages/${id}/cancel`, {});
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
    assert.equal(cancelled.json.status, 'cancelled');
    assert.equal(await reachedOneOf(id, ['cancelled']), 'cancelled');
    // well past its time, it is still cancelled and the vendors never got it
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(sendAt) - Date.now()) + 3_000));
    assert.equal(await statusOf(id), 'cancelled');
    assert.equal((await received())[id], undefined, 'never submitted');
    for (const account of ['sim-aliyun', 'sim-tencent']) {
      const r = await simulator(`/accounts/${account}/messages?mobile=%2B8613600000001`);
      assert.equal(r.total, 0, `nothing reached ${account}`);
    }

    const now = await post('/v1/messages', {
      templateCode: notice,
      mobile: '+8613600000002',
      params: { order: '2' },
    });
    assert.equal(now.status, 202, JSON.stringify(now.json));
    const sent = String(now.json.messageId);
    const status = await reachedOneOf(sent, ['submitted', 'delivered']);
    const late = await post(`/v1/messages/${sent}/cancel`, {});
    assert.equal(late.status, 409, JSON.stringify(late.json));
    assert.equal(late.json.code, 'MESSAGE_NOT_CANCELLABLE');
    const details = late.json.details as Obj;
    assert.ok(
      ['submitted', 'delivered'].includes(String(details.status)),
      `409 names the current status (${String(details.status)}, was ${status})`,
    );
    assert.equal((await received())[sent], 1, 'sent once');
  });

  it('a batch of 1,000 with 10 invalid numbers: 990 accepted, 10 refused; a repeat sends nothing twice', async () => {
    const recipients = Array.from({ length: 1000 }, (_, i) => ({
      mobile: i % 100 === 7 ? `12${i}` : `+86135${String(i).padStart(8, '0')}`,
      params: { order: '42' },
    }));
    const body = { templateCode: notice, recipients };
    const key = { 'idempotency-key': `sends-e2e-${Date.now()}` };
    const before = await stats();
    const first = await post('/v1/messages/batch', body, key);
    assert.equal(first.status, 200, JSON.stringify(first.json).slice(0, 500));
    assert.equal(first.json.accepted, 990);
    assert.equal(first.json.refused, 10);
    const results = first.json.results as Obj[];
    assert.equal(results.length, 1000);
    for (const r of results) {
      const i = Number(r.index);
      if (i % 100 === 7) {
        assert.equal(r.status, 'refused');
        assert.equal(r.code, 'INVALID_MOBILE');
      } else assert.equal(r.status, 'accepted', JSON.stringify(r));
    }
    const ids = results.flatMap((r) => (r.status === 'accepted' ? [String(r.messageId)] : []));
    assert.equal(new Set(ids).size, 990, 'a message of its own per recipient');

    const again = await post('/v1/messages/batch', body, key);
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, first.json, 'the same answer');

    // every message leaves the accepted state (the query API's history of the template)
    const histogram = async () => {
      const counts: Record<string, number> = {};
      let cursor: string | undefined;
      do {
        const r = await call(
          `${sys.query}/v1/messages?template=${notice}&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
          'GET',
          undefined,
          token,
        );
        for (const m of r.json.items as Obj[]) {
          if (idSet.has(String(m.messageId))) {
            counts[String(m.status)] = (counts[String(m.status)] ?? 0) + 1;
          }
        }
        cursor = r.json.nextCursor as string | undefined;
      } while (cursor);
      return counts;
    };
    const idSet = new Set(ids);
    let last: Record<string, number> = {};
    await eventually(
      'every message of the batch submitted',
      async () => {
        last = await histogram();
        const done = (last.submitted ?? 0) + (last.delivered ?? 0);
        return done === ids.length ? true : undefined;
      },
      300_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`, { cause: err });
    });
    // a moment for anything that would be sent twice; then every accepted number reached a
    // vendor exactly once (a batch call carries numbers, not our message ids)
    await new Promise((r) => setTimeout(r, 2_000));
    const mobiles: string[] = [];
    for (const id of ['sim-aliyun', 'sim-tencent']) {
      const r = await simulator(`/accounts/${id}/messages`);
      for (const m of r.messages as { mobile: string }[]) {
        if (m.mobile.startsWith('+86135')) mobiles.push(m.mobile);
      }
    }
    assert.equal(mobiles.length, 990, 'one vendor message per accepted recipient');
    assert.equal(new Set(mobiles).size, 990, 'no number twice');
    const after = await stats();
    const calls = after.batchCalls - before.batchCalls;
    const numbers = after.batchNumbers - before.batchNumbers;
    assert.ok(calls > 0, 'the vendors were called with batches');
    assert.ok(numbers > calls, `batch calls carry several numbers (${numbers} in ${calls})`);
  });

  it('GET/POST/DELETE /v1/opt-outs; an opt-out stops marketing, START or DELETE lets it go again', async () => {
    const listed = async (mobile: string, after?: unknown) => {
      const q = `mobile=${encodeURIComponent(mobile)}${after === undefined ? '' : `&after=${String(after)}`}`;
      const r = await call(`${sys.query}/v1/opt-outs?${q}`, 'GET', undefined, token);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return (r.json.items as Obj[]).some((x) => x.mobile === mobile);
    };
    const market = (mobile: string) =>
      post('/v1/messages', { templateCode: promo, mobile, params: { item: 'tea' } });

    // by the API: POST, then DELETE
    const a = '+8613600000011';
    const added = await post('/v1/opt-outs', { mobile: a });
    assert.equal(added.status, 201, JSON.stringify(added.json));
    assert.equal(added.json.optedOut, true);
    await eventually('the opt-out listed', async () => ((await listed(a)) ? true : undefined));
    const refused = await market(a);
    assert.equal(refused.status, 422, JSON.stringify(refused.json));
    assert.equal(refused.json.code, 'MOBILE_OPTED_OUT');
    const removed = await call(
      `${sys.command}/v1/opt-outs/${encodeURIComponent(a)}`,
      'DELETE',
      undefined,
      token,
    );
    assert.ok(removed.status === 200, JSON.stringify(removed.json));
    assert.equal(removed.json.optedOut, false);
    await eventually('the opt-out gone from the list', async () =>
      (await listed(a)) ? undefined : true,
    );
    const goes = await market(a);
    assert.equal(goes.status, 202, JSON.stringify(goes.json));
    await reachedOneOf(String(goes.json.messageId), ['submitted', 'delivered']);

    // by the number itself: opted out, then START → marketing goes again
    const b = '+8613600000012';
    const first = await market(b);
    assert.equal(first.status, 202, JSON.stringify(first.json));
    const firstId = String(first.json.messageId);
    await reachedOneOf(firstId, ['submitted', 'delivered']);
    const reply = async (text: string) => {
      // the reply comes to the account that sent the first message
      const m = await message(firstId);
      const accountId = String(m.json.supplierAccount);
      const r = await simulator('/inbound', 'POST', { accountId, mobile: b, text });
      assert.ok(!('error' in r), JSON.stringify(r));
    };
    assert.equal((await post('/v1/opt-outs', { mobile: b })).status, 201);
    await eventually('the opt-out listed', async () => ((await listed(b)) ? true : undefined));
    assert.equal((await market(b)).json.code, 'MOBILE_OPTED_OUT');
    await reply('START');
    await eventually(
      'START opted the number back in',
      async () => ((await listed(b)) ? undefined : true),
      60_000,
    );
    const back = await market(b);
    assert.equal(back.status, 202, JSON.stringify(back.json));
    await reachedOneOf(String(back.json.messageId), ['submitted', 'delivered']);
  });
  it('quiet hours set through POST and PATCH /v1/templates hold a marketing send until they end', async () => {
    // HH:MM:SS in China's time zone, `ms` from now
    const china = (ms: number) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Asia/Shanghai',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
      }).format(new Date(Date.now() + ms));
    // created with quiet hours far from now: the query side shows them, and nothing is held
    const created = await call(
      `${sys.command}/v1/templates`,
      'POST',
      {
        name: 'quiet',
        kind: 'marketing',
        signature,
        content: 'Quiet sale on ${item}. Reply TD to opt out.',
        quietHours: { start: china(6 * 3600_000), end: china(7 * 3600_000) },
      },
      token,
    );
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const code = String(created.json.templateCode);
    const stored = await eventually('the template on the query side', async () => {
      const shown = await call(`${sys.query}/v1/templates/${code}`, 'GET', undefined, token);
      return shown.status === 200 ? ((shown.json.quietHours as Obj | null) ?? null) : undefined;
    });
    assert.ok(stored, 'the template keeps its quiet hours');
    assert.equal(stored.timeZone, 'Asia/Shanghai');
    await approvedBySuppliers(sys, token, code, signature);

    // now inside quiet hours that end a few seconds ahead
    const end = Date.now() + 6_000;
    const patched = await call(
      `${sys.command}/v1/templates/${code}`,
      'PATCH',
      { quietHours: { start: china(-3600_000), end: china(end - Date.now()) } },
      token,
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const held = await post('/v1/messages', {
      templateCode: code,
      mobile: '+8613600000021',
      params: { item: 'tea' },
    });
    assert.equal(held.status, 202, JSON.stringify(held.json));
    const notBefore = Date.parse(String(held.json.notBefore));
    assert.ok(
      Number.isFinite(notBefore),
      `held until the window ends: ${JSON.stringify(held.json)}`,
    );
    assert.ok(
      Math.abs(notBefore - end) < 2_000,
      `${held.json.notBefore} vs ${new Date(end).toISOString()}`,
    );
    const id = String(held.json.messageId);
    await reachedOneOf(id, ['submitted', 'delivered']);
    const m = await message(id);
    const submittedAt = Date.parse(String(m.json.submittedAt));
    assert.ok(
      submittedAt >= notBefore,
      `submitted ${m.json.submittedAt}, not before ${held.json.notBefore}`,
    );
  });
});
