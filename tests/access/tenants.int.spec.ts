// Trial tenants, suspension and platform limits on the accept path: real
// MySQL event store and Redis, the command API as a client calls it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAdmin, tenantStateKey } from '../../command-service/index.ts';
import { messageStream } from '../../domain/index.ts';
import { open } from '../../platform/crypto/index.ts';
import { MongoClient } from 'mongodb';
import { startProjectors } from '../../projectors/index.ts';
import { startQueryService } from '../../query-service/index.ts';
import { member, randomMobile, startHarness, template, type Harness } from '../command/harness.ts';

let h: Harness;
let admin: string;

before(async () => {
  h = await startHarness('tenants', {
    STREAMING_TENANTS_START: 'trial',
    STREAMING_TRIAL_MAX_PER_DAY: '8',
    STREAMING_VERIFICATION_MOBILE_MAX_PER_DAY: '3',
  });
  await createAdmin({
    config: h.config,
    eventStore: h.deps.eventStore,
    username: 'platform-admin',
    password: 'admin password',
  });
  const login = await h.call('POST', '/v1/sessions', {
    body: { username: 'platform-admin', password: 'admin password' },
  });
  admin = String(login.json.token);
});
after(async () => {
  await h.close();
});

async function unchanged<T>(work: () => Promise<T>): Promise<T> {
  const before = await h.countEvents();
  const out = await work();
  assert.equal(await h.countEvents(), before, 'nothing appended');
  return out;
}

const send = (token: string, code: string, mobile: string) =>
  h.call('POST', '/v1/messages', {
    token,
    body: { templateCode: code, mobile, params: { name: 'Li', order: '42' } },
  });

/** The code the platform sent to verify a number, read back from its sealed message. */
async function numberCode(messageId: string): Promise<string> {
  const [accepted] = await h.deps.eventStore.readStream(messageStream(messageId));
  assert.ok(accepted, 'the code SMS was accepted');
  assert.equal(String(accepted.data.content).includes('******'), true);
  const params = JSON.parse(
    open(h.config.codes.encryptionKey, String(accepted.data.sealedParams), messageId),
  ) as { code: string };
  return params.code;
}

async function activated(): Promise<{ token: string; userId: string }> {
  const m = await member(h, 'active');
  const r = await h.call('POST', `/v1/tenants/${m.userId}/activate`, { token: admin });
  assert.equal(r.status, 200, r.text);
  return m;
}

describe('trial tenants', () => {
  it('send to an unverified number → 403; verify it → sends go; promote → any number in the allowed countries', async () => {
    const t = await member(h, 'trial');
    const code = await template(h, t.token);
    const mine = randomMobile();
    const refused = await unchanged(() => send(t.token, code, mine));
    assert.equal(refused.status, 403);
    assert.equal(refused.json.code, 'TRIAL_NUMBER_NOT_VERIFIED');

    const sent = await h.call('POST', '/v1/verified-numbers', {
      token: t.token,
      body: { mobile: mine },
    });
    assert.equal(sent.status, 202, sent.text);
    const wrong = await h.call('POST', '/v1/verified-numbers/check', {
      token: t.token,
      body: { mobile: mine, code: '000000x' },
    });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.json.code, 'VERIFICATION_CODE_WRONG');
    const ok = await h.call('POST', '/v1/verified-numbers/check', {
      token: t.token,
      body: { mobile: mine, code: await numberCode(String(sent.json.messageId)) },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.verified, true);
    assert.equal((await send(t.token, code, mine)).status, 202);
    assert.equal((await send(t.token, code, randomMobile())).status, 403, 'others still refused');

    const promote = await h.call('POST', `/v1/tenants/${t.userId}/activate`, { token: admin });
    assert.equal(promote.status, 200);
    assert.equal(promote.json.status, 'active');
    assert.equal((await send(t.token, code, randomMobile())).status, 202);
    const abroad = await unchanged(() => send(t.token, code, '+12025550123'));
    assert.equal(abroad.status, 403);
    assert.equal(abroad.json.code, 'DESTINATION_NOT_ALLOWED');
  });

  it('a trial tenant verifies at most 5 numbers and sends a small number a day', async () => {
    const t = await member(h, 'cap');
    const code = await template(h, t.token);
    const numbers: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const mobile = randomMobile();
      const sent = await h.call('POST', '/v1/verified-numbers', {
        token: t.token,
        body: { mobile },
      });
      assert.equal(sent.status, 202, sent.text);
      const ok = await h.call('POST', '/v1/verified-numbers/check', {
        token: t.token,
        body: { mobile, code: await numberCode(String(sent.json.messageId)) },
      });
      assert.equal(ok.status, 200);
      numbers.push(mobile);
    }
    const sixth = await unchanged(() =>
      h.call('POST', '/v1/verified-numbers', { token: t.token, body: { mobile: randomMobile() } }),
    );
    assert.equal(sixth.status, 409);
    assert.equal(sixth.json.code, 'VERIFIED_NUMBERS_FULL');
    const replies = [];
    for (let i = 0; i < 10; i += 1) replies.push(await send(t.token, code, numbers[i % 5]!));
    assert.equal(replies.filter((r) => r.status === 202).length, h.config.tenants.trialMaxPerDay);
    assert.ok(
      replies.filter((r) => r.status === 429).every((r) => r.json.code === 'PLATFORM_TRIAL_DAILY'),
    );
  });

  it('a number-verification code goes only to the tenant’s countries', async () => {
    const t = await member(h, 'abroad');
    const r = await unchanged(() =>
      h.call('POST', '/v1/verified-numbers', { token: t.token, body: { mobile: '+12025550123' } }),
    );
    assert.equal(r.status, 403);
    assert.equal(r.json.code, 'DESTINATION_NOT_ALLOWED');
  });
});

describe('suspension', () => {
  it('a suspended tenant’s sends answer 403 TENANT_SUSPENDED, nothing appended; activation lets them go again', async () => {
    const t = await activated();
    const code = await template(h, t.token);
    const mobile = randomMobile();
    assert.equal((await send(t.token, code, mobile)).status, 202);
    const notAdmin = await h.call('POST', `/v1/tenants/${t.userId}/suspend`, {
      token: t.token,
      body: {},
    });
    assert.equal(notAdmin.status, 403);
    const s = await h.call('POST', `/v1/tenants/${t.userId}/suspend`, {
      token: admin,
      body: { reason: 'pumping' },
    });
    assert.equal(s.status, 200);
    assert.equal(s.json.status, 'suspended');
    const refused = await unchanged(() => send(t.token, code, mobile));
    assert.equal(refused.status, 403);
    assert.equal(refused.json.code, 'TENANT_SUSPENDED');
    // templates and history are untouched: activation lets sends go again
    await h.call('POST', `/v1/tenants/${t.userId}/activate`, { token: admin });
    assert.equal((await send(t.token, code, mobile)).status, 202);
  });

  it('the tenant state read with the session check: a suspension holds for tokens and API keys, and without its Redis copy', async () => {
    const t = await activated();
    const code = await template(h, t.token);
    const created = await h.call('POST', '/v1/api-keys', { token: t.token, body: { name: 'ci' } });
    assert.equal(created.status, 201);
    const key = String(created.json.key);
    assert.equal((await send(key, code, randomMobile())).status, 202);
    await h.call('POST', `/v1/tenants/${t.userId}/suspend`, { token: admin, body: {} });
    for (const caller of [t.token, key]) {
      const refused = await unchanged(() => send(caller, code, randomMobile()));
      assert.equal(refused.json.code, 'TENANT_SUSPENDED');
    }
    // the copy lost (a flushed Redis): the session check reads none, the send rebuilds it from the stream
    await h.redis.del(tenantStateKey(h.deps, t.userId));
    const refused = await unchanged(() => send(t.token, code, randomMobile()));
    assert.equal(refused.json.code, 'TENANT_SUSPENDED');
    assert.notEqual(await h.redis.get(tenantStateKey(h.deps, t.userId)), null, 'rebuilt');
    await h.call('POST', `/v1/tenants/${t.userId}/activate`, { token: admin });
    for (const caller of [t.token, key]) {
      assert.equal((await send(caller, code, randomMobile())).status, 202);
    }
  });

  it('an unknown tenant is 404', async () => {
    const r = await h.call('POST', '/v1/tenants/00000000-0000-4000-8000-000000000000/activate', {
      token: admin,
    });
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'TENANT_NOT_FOUND');
  });
});

describe('platform limits', () => {
  it('ten templates of one tenant together cannot exceed its per-mobile cap', async () => {
    const t = await activated();
    const set = await h.call('PUT', `/v1/tenants/${t.userId}/limits`, {
      token: admin,
      body: { mobileMaxPerDay: 4 },
    });
    assert.equal(set.status, 200, set.text);
    assert.equal(
      set.json.limits && (set.json.limits as { mobileMaxPerDay: number }).mobileMaxPerDay,
      4,
    );
    const codes = [];
    for (let i = 0; i < 10; i += 1) {
      codes.push(await template(h, t.token, { policy: { mobile: { maxPerDay: 10 } } }));
    }
    const mobile = randomMobile();
    const replies = await Promise.all(codes.map((c) => send(t.token, c, mobile)));
    assert.equal(replies.filter((r) => r.status === 202).length, 4);
    const refused = replies.filter((r) => r.status !== 202);
    assert.ok(refused.every((r) => r.status === 429 && r.json.code === 'PLATFORM_MOBILE_DAILY'));
    assert.ok(refused.every((r) => Number(r.headers.get('retry-after')) > 0));
    assert.equal((await send(t.token, codes[0]!, randomMobile())).status, 202, 'other numbers go');
  });

  it('200 concurrent sends against a platform cap of 50 → exactly 50 accepted; a looser policy does not loosen it', async () => {
    const t = await activated();
    await h.call('PUT', `/v1/tenants/${t.userId}/limits`, {
      token: admin,
      body: { maxPerDay: 50 },
    });
    const code = await template(h, t.token, { policy: { tenant: { maxPerDay: 1000 } } });
    const before = await h.countEvents();
    const replies = await Promise.all(
      Array.from({ length: 200 }, () => send(t.token, code, randomMobile())),
    );
    const accepted = replies.filter((r) => r.status === 202);
    assert.equal(accepted.length, 50);
    assert.ok(
      replies
        .filter((r) => r.status !== 202)
        .every((r) => r.status === 429 && r.json.code === 'PLATFORM_TENANT_DAILY'),
    );
    assert.equal(
      await h.countEvents(),
      before + 50,
      'one event per accepted send, none for refusals',
    );
  });

  it('a per-second cap refuses the excess of a burst', async () => {
    const t = await activated();
    await h.call('PUT', `/v1/tenants/${t.userId}/limits`, {
      token: admin,
      body: { maxPerSecond: 5 },
    });
    const code = await template(h, t.token);
    const replies = await Promise.all(
      Array.from({ length: 40 }, () => send(t.token, code, randomMobile())),
    );
    const refused = replies.filter((r) => r.status === 429);
    assert.ok(refused.length > 0);
    assert.ok(refused.every((r) => r.json.code === 'PLATFORM_TENANT_PER_SECOND'));
  });

  it('an admin may allow more countries, per tenant', async () => {
    const t = await activated();
    const code = await template(h, t.token);
    assert.equal((await send(t.token, code, '+85261234567')).status, 403);
    await h.call('PUT', `/v1/tenants/${t.userId}/limits`, {
      token: admin,
      body: { countries: ['86', '852'] },
    });
    assert.equal((await send(t.token, code, '+85261234567')).status, 202);
    const bad = await h.call('PUT', `/v1/tenants/${t.userId}/limits`, {
      token: admin,
      body: { countries: ['+86'] },
    });
    assert.equal(bad.status, 400);
  });

  it('verification codes to one mobile are capped across all tenants', async () => {
    const mobile = randomMobile();
    const replies = [];
    // one code per tenant (each template's own policy would allow it)
    for (let i = 0; i < 5; i += 1) {
      const t = await activated();
      const code = await template(h, t.token, {
        kind: 'verification',
        content: 'Your code is ${code}',
      });
      replies.push(
        await h.call('POST', '/v1/verifications', {
          token: t.token,
          body: { templateCode: code, mobile },
        }),
      );
    }
    assert.equal(
      replies.filter((r) => r.status === 202).length,
      h.config.tenants.verificationMobileMaxPerDay,
    );
    assert.ok(
      replies
        .filter((r) => r.status !== 202)
        .every((r) => r.json.code === 'PLATFORM_VERIFICATION_MOBILE_DAILY'),
      JSON.stringify(replies.map((r) => r.json.code ?? r.status)),
    );
  });
});

describe('the query API', () => {
  it('shows each tenant’s status and limits: a member its own, an admin all', async () => {
    const t = await member(h, 'shown');
    await h.call('PUT', `/v1/tenants/${t.userId}/limits`, {
      token: admin,
      body: { maxPerDay: 7, countries: ['86', '852'] },
    });
    const s = await h.call('POST', `/v1/tenants/${t.userId}/suspend`, {
      token: admin,
      body: { reason: 'review' },
    });
    assert.equal(s.status, 200);
    const other = await member(h, 'other');
    const mongo = new MongoClient('mongodb://127.0.0.1:27017', { retryWrites: false });
    const deps = {
      config: h.config,
      logger: h.deps.logger,
      eventStore: h.deps.eventStore,
      mysql: h.db.pool,
      redis: h.redis,
      mongo: { client: mongo, db: mongo.db(`streaming_t_tenants_${Date.now()}`) },
      redisPrefix: h.prefix,
    };
    const projectors = startProjectors(deps, { only: ['tenants'], maxWaitMs: 5 });
    const query = await startQueryService(deps, { port: 0 });
    try {
      const position = await h.deps.eventStore.headPosition();
      const get = async (path: string, token: string) => {
        const res = await fetch(new URL(`${path}?after=${position}`, query.url), {
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      const mine = await get(`/v1/tenants/${t.userId}`, t.token);
      assert.equal(mine.status, 200, JSON.stringify(mine.json));
      assert.equal(mine.json.status, 'suspended');
      assert.equal(mine.json.suspendedReason, 'review');
      assert.deepEqual(mine.json.limits, { maxPerDay: 7, countries: ['86', '852'] });
      assert.equal((await get(`/v1/tenants/${t.userId}`, other.token)).status, 404);
      const list = await get('/v1/tenants', admin);
      const ids = (list.json.items as { tenantId: string; status: string }[]).map(
        (i) => i.tenantId,
      );
      assert.ok(ids.includes(t.userId) && ids.includes(other.userId));
      const own = await get('/v1/tenants', other.token);
      assert.deepEqual(
        (own.json.items as { tenantId: string }[]).map((i) => i.tenantId),
        [other.userId],
      );
    } finally {
      await query.close();
      await projectors.close();
      await mongo.close();
    }
  });
});
