// The command API as a user runs it: real MySQL event store, real Redis.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import { createAdmin } from '../../command-service/index.ts';
import { approve, member, randomMobile, startHarness, template, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness('cmd');
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

describe('users and sessions', () => {
  it('registers, logs in with a JWT, and refuses a taken name with 409', async () => {
    const r = await h.call('POST', '/v1/users', {
      body: { username: 'alice', password: 'long enough pw', email: 'a@example.com' },
    });
    assert.equal(r.status, 201);
    assert.match(String(r.json.userId), /^[0-9a-f-]{36}$/);
    const again = await unchanged(() =>
      h.call('POST', '/v1/users', { body: { username: 'alice', password: 'another password' } }),
    );
    assert.equal(again.status, 409);
    assert.equal(again.json.code, 'USERNAME_TAKEN');
    const login = await h.call('POST', '/v1/sessions', {
      body: { username: 'alice', password: 'long enough pw' },
    });
    assert.equal(login.status, 200);
    const claims = jwt.decode(String(login.json.token), { complete: true });
    assert.equal(claims?.header.alg, 'HS256');
    assert.ok(Date.parse(String(login.json.expiresAt)) > Date.now() + 3_500_000);
  });

  it('20 concurrent registrations of one name: exactly one 201', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.call('POST', '/v1/users', { body: { username: 'racer', password: `password-${i}-xx` } }),
      ),
    );
    const statuses = replies.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 201).length, 1);
    assert.equal(statuses.filter((s) => s === 409).length, 19);
  });

  it('same 401 for unknown user and wrong password, then 429 with Retry-After', async () => {
    await h.call('POST', '/v1/users', { body: { username: 'bob', password: 'bobs password' } });
    const unknown = await h.call('POST', '/v1/sessions', {
      body: { username: 'nobody', password: 'whatever123' },
    });
    const wrong = await h.call('POST', '/v1/sessions', {
      body: { username: 'bob', password: 'not his password' },
    });
    assert.equal(unknown.status, 401);
    assert.equal(wrong.status, 401);
    assert.equal(unknown.json.code, 'INVALID_CREDENTIALS');
    assert.equal(wrong.json.message, unknown.json.message);
    for (let i = 1; i < h.config.auth.loginMaxFailures; i += 1) {
      await h.call('POST', '/v1/sessions', { body: { username: 'bob', password: 'wrong again!' } });
    }
    const throttled = await h.call('POST', '/v1/sessions', {
      body: { username: 'bob', password: 'bobs password' },
    });
    assert.equal(throttled.status, 429);
    assert.equal(throttled.json.code, 'LOGIN_THROTTLED');
    assert.ok(Number(throttled.headers.get('retry-after')) > 0);
  });

  it('rejects bad registrations with a stable code and appends nothing', async () => {
    const cases: [unknown, string][] = [
      [{ username: 'ab', password: 'long enough pw' }, 'VALIDATION_FAILED'],
      [{ username: 'ok_name', password: 'short' }, 'VALIDATION_FAILED'],
      [{ username: 'ok_name', password: 12345678901 }, 'VALIDATION_FAILED'],
      [{ username: 'ok_name', password: 'long enough pw', role: 'admin' }, 'VALIDATION_FAILED'],
      [{ username: 'ok_name', password: 'long enough pw', phone: '123' }, 'VALIDATION_FAILED'],
    ];
    for (const [body, code] of cases) {
      const r = await unchanged(() => h.call('POST', '/v1/users', { body }));
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.code, code);
    }
    const malformed = await unchanged(() => h.call('POST', '/v1/users', { raw: '{"username":' }));
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.code, 'MALFORMED_JSON');
    const huge = await unchanged(() =>
      h.call('POST', '/v1/users', { raw: JSON.stringify({ username: 'x'.repeat(200_000) }) }),
    );
    assert.equal(huge.status, 413);
    assert.equal(huge.json.code, 'BODY_TOO_LARGE');
  });
});

describe('authentication', () => {
  it('refuses missing, forged, alg none, expired and wrong-audience tokens with 401, appending nothing', async () => {
    const body = { name: 'n', kind: 'notification', signature: 'S', content: 'hi' };
    const secret = h.config.auth.jwtSecret;
    const opts = {
      issuer: h.config.auth.jwtIssuer,
      audience: h.config.auth.jwtAudience,
      subject: 'u1',
    };
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({
        sub: 'u1',
        role: 'admin',
        iss: opts.issuer,
        aud: opts.audience,
        exp: 9999999999,
      }),
    ).toString('base64url')}.`;
    const cases: [string | undefined, string][] = [
      [undefined, 'UNAUTHENTICATED'],
      [
        jwt.sign({ role: 'admin' }, 'x'.repeat(40), { ...opts, algorithm: 'HS256' }),
        'INVALID_TOKEN',
      ],
      [none, 'INVALID_TOKEN'],
      [
        jwt.sign({ role: 'member', exp: Math.floor(Date.now() / 1000) - 10 }, secret, {
          issuer: opts.issuer,
          audience: opts.audience,
          subject: 'u1',
        }),
        'INVALID_TOKEN',
      ],
      [jwt.sign({ role: 'member' }, secret, { ...opts, audience: 'other' }), 'INVALID_TOKEN'],
      ['sk_00000000-0000-0000-0000-000000000000_nope', 'INVALID_TOKEN'],
    ];
    for (const [token, code] of cases) {
      const r = await unchanged(() =>
        h.call('POST', '/v1/templates', { body, ...(token ? { token } : {}) }),
      );
      assert.equal(r.status, 401, String(token));
      assert.equal(r.json.code, code);
    }
  });

  it('API keys: created once, listed without secrets, usable, revoked at once', async () => {
    const alice = await member(h, 'keys');
    const created = await h.call('POST', '/v1/api-keys', {
      token: alice.token,
      body: { name: 'ci' },
    });
    assert.equal(created.status, 201);
    const key = String(created.json.key);
    assert.match(key, /^sk_/);
    const list = await h.call('GET', '/v1/api-keys', { token: alice.token });
    assert.equal(list.status, 200);
    // the secret is all after sk_<uuid>_ (base64url, so it may hold '_' itself)
    const secret = key.slice(key.indexOf('_', 3) + 1);
    assert.equal(secret.length, 43);
    assert.ok(!list.text.includes(secret), 'no secret in the list');
    assert.deepEqual(
      (list.json.items as { id: string; revoked: boolean }[]).map((i) => [i.id, i.revoked]),
      [[created.json.id, false]],
    );
    const code = await template(h, key);
    assert.ok(code);
    const other = await member(h, 'other');
    const foreign = await h.call('DELETE', `/v1/api-keys/${String(created.json.id)}`, {
      token: other.token,
    });
    assert.equal(foreign.status, 404);
    const revoked = await h.call('DELETE', `/v1/api-keys/${String(created.json.id)}`, {
      token: alice.token,
    });
    assert.equal(revoked.status, 204);
    const after = await unchanged(() =>
      h.call('POST', '/v1/templates', {
        token: key,
        body: { name: 'n', kind: 'notification', signature: 'S', content: 'hi' },
      }),
    );
    assert.equal(after.status, 401);
    assert.equal(after.json.code, 'API_KEY_REVOKED');
  });
});

describe('templates', () => {
  it('creates with defaults, updates, disables and enables; another tenant gets 404', async () => {
    const alice = await member(h, 'tpl');
    const r = await h.call('POST', '/v1/templates', {
      token: alice.token,
      body: { name: 'code', kind: 'verification', signature: 'Acme', content: 'Code ${code}' },
    });
    assert.equal(r.status, 201);
    const code = String(r.json.templateCode);
    assert.match(code, /^[A-Za-z0-9_-]{16,}$/);
    const stored = await h.deps.eventStore.readStream(`template-${code}`);
    const data = stored[0]!.data as { policy: unknown; verification: unknown; suppliers: string[] };
    assert.deepEqual(data.policy, {
      mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 },
    });
    assert.deepEqual(data.verification, { codeLength: 6, ttlSeconds: 300, maxAttempts: 5 });
    assert.deepEqual(data.suppliers, [...h.config.defaultSuppliers]);

    const patched = await h.call('PATCH', `/v1/templates/${code}`, {
      token: alice.token,
      body: { content: 'Your code: ${code}', suppliers: ['sim-tencent'] },
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.json.version, 1);
    const disabled = await h.call('POST', `/v1/templates/${code}/disable`, { token: alice.token });
    assert.equal(disabled.json.enabled, false);
    const twice = await h.call('POST', `/v1/templates/${code}/disable`, { token: alice.token });
    assert.equal(twice.json.code, 'TEMPLATE_ALREADY_DISABLED');
    const enabled = await h.call('POST', `/v1/templates/${code}/enable`, { token: alice.token });
    assert.equal(enabled.json.enabled, true);

    const mallory = await member(h, 'mallory');
    for (const [method, path, body] of [
      ['PATCH', `/v1/templates/${code}`, { content: 'x ${code}' }],
      ['POST', `/v1/templates/${code}/disable`, undefined],
      ['POST', '/v1/messages', { templateCode: code, mobile: randomMobile(), params: {} }],
    ] as const) {
      const res = await unchanged(() =>
        h.call(method, path, { token: mallory.token, ...(body ? { body } : {}) }),
      );
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.json.code, 'TEMPLATE_NOT_FOUND');
    }
  });

  it('an admin sees and changes any tenant template', async () => {
    const alice = await member(h, 'owner');
    const code = await template(h, alice.token);
    await createAdmin({
      eventStore: h.deps.eventStore,
      username: 'root',
      password: 'admin password',
    });
    const login = await h.call('POST', '/v1/sessions', {
      body: { username: 'root', password: 'admin password' },
    });
    const admin = String(login.json.token);
    const r = await h.call('POST', `/v1/templates/${code}/disable`, { token: admin });
    assert.equal(r.status, 200);
    assert.equal(r.json.enabled, false);
  });

  it('rejects impossible policies naming the field, unknown suppliers and bad content', async () => {
    const alice = await member(h, 'policy');
    const base = { name: 'n', kind: 'notification', signature: 'S', content: 'hi ${name}' };
    const cases: [Record<string, unknown>, number, string, unknown][] = [
      [{ policy: { mobile: { maxPerHour: -1 } } }, 422, 'POLICY_INVALID', 'mobile.maxPerHour'],
      [
        { policy: { mobile: { maxPerHour: 10, maxPerDay: 5 } } },
        422,
        'POLICY_INVALID',
        'mobile.maxPerHour',
      ],
      [{ policy: { tenant: { maxPerDay: 0 } } }, 422, 'POLICY_INVALID', 'tenant.maxPerDay'],
      [{ suppliers: ['nope'] }, 422, 'UNKNOWN_SUPPLIER', 'suppliers'],
      [{ content: 'hi ${' }, 422, 'TEMPLATE_CONTENT_INVALID', 'content'],
      [
        { kind: 'verification', content: 'no code here' },
        422,
        'TEMPLATE_CONTENT_INVALID',
        'content',
      ],
      [{ policy: { mobile: { maxPerHour: 'many' } } }, 400, 'VALIDATION_FAILED', undefined],
      [{ extra: true }, 400, 'VALIDATION_FAILED', undefined],
    ];
    for (const [patch, status, code, field] of cases) {
      const r = await unchanged(() =>
        h.call('POST', '/v1/templates', { token: alice.token, body: { ...base, ...patch } }),
      );
      assert.equal(r.status, status, JSON.stringify(patch));
      assert.equal(r.json.code, code);
      if (field !== undefined) assert.equal((r.json.details as { field?: string }).field, field);
    }
  });
  it('keeps an extension code of 1 to 6 digits; anything else is 400 VALIDATION_FAILED naming it', async () => {
    const alice = await member(h, 'ext');
    const code = await template(h, alice.token, { extendCode: '12' }, { approved: false });
    const created = await h.deps.eventStore.readStream(`template-${code}`);
    assert.equal((created[0]!.data as { extendCode?: string }).extendCode, '12');
    const base = { name: 'n', kind: 'marketing', signature: 'S', content: 'Sale!' };
    for (const bad of ['', '1234567', '12a', '+12', ' 12', 12, null, ['12']]) {
      const r = await unchanged(() =>
        h.call('POST', '/v1/templates', { token: alice.token, body: { ...base, extendCode: bad } }),
      );
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.equal(r.json.code, 'VALIDATION_FAILED');
      const errors = (r.json.details as { errors: { path: string }[] }).errors;
      assert.ok(
        errors.some((e) => e.path === 'body.extendCode'),
        JSON.stringify(errors),
      );
      if (bad === null) continue; // null removes the code in a PATCH
      const p = await unchanged(() =>
        h.call('PATCH', `/v1/templates/${code}`, { token: alice.token, body: { extendCode: bad } }),
      );
      assert.equal(p.status, 400, JSON.stringify(bad));
      assert.equal(p.json.code, 'VALIDATION_FAILED');
    }
    const changed = await h.call('PATCH', `/v1/templates/${code}`, {
      token: alice.token,
      body: { extendCode: '345678' },
    });
    assert.equal(changed.status, 200, changed.text);
    const removed = await h.call('PATCH', `/v1/templates/${code}`, {
      token: alice.token,
      body: { extendCode: null },
    });
    assert.equal(removed.status, 200, removed.text);
    const events = await h.deps.eventStore.readStream(`template-${code}`);
    assert.deepEqual(
      events.slice(1).map((e) => (e.data as { extendCode?: unknown }).extendCode),
      ['345678', null],
    );
  });
});

describe('sending', () => {
  it('accepts with segments, encoding and position; normalises the mobile', async () => {
    const alice = await member(h, 'send');
    const code = await template(h, alice.token);
    const r = await h.call('POST', '/v1/messages', {
      token: alice.token,
      body: { templateCode: code, mobile: '138 0013 8000', params: { name: 'Li', order: 'A1' } },
    });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.segments, 1);
    assert.equal(r.json.encoding, 'UCS-2'); // 【】 are not GSM
    assert.ok(Number(r.json.position) > 0);
    const [event] = await h.deps.eventStore.readStream(`message-${String(r.json.messageId)}`);
    assert.equal(event!.type, 'sms.accepted.v1');
    assert.equal((event!.data as { mobile: string }).mobile, '+8613800138000');
    assert.equal(event!.position, r.json.position);
    assert.ok(
      h.tracked.some((t) => t.type === 'send.accepted' && t.messageId === r.json.messageId),
    );
  });

  it('refuses params that do not match, bad mobiles, disabled templates, naming the problem', async () => {
    const alice = await member(h, 'bad');
    const code = await template(h, alice.token);
    const send = (body: Record<string, unknown>) =>
      unchanged(() =>
        h.call('POST', '/v1/messages', {
          token: alice.token,
          body: {
            templateCode: code,
            mobile: randomMobile(),
            params: { name: 'a', order: 'b' },
            ...body,
          },
        }),
      );
    const missing = await send({ params: { name: 'a' } });
    assert.equal(missing.status, 422);
    assert.equal(missing.json.code, 'PARAMS_MISMATCH');
    assert.deepEqual((missing.json.details as { missing: string[] }).missing, ['order']);
    const extra = await send({ params: { name: 'a', order: 'b', x: 'c' } });
    assert.deepEqual((extra.json.details as { extra: string[] }).extra, ['x']);
    const mobile = await send({ mobile: '12345' });
    assert.equal(mobile.json.code, 'INVALID_MOBILE');
    const types = await send({ params: { name: 1, order: 'b' } });
    assert.equal(types.status, 400);
    assert.equal(types.json.code, 'VALIDATION_FAILED');
    assert.ok(h.tracked.some((t) => t.type === 'send.rejected' && t.rule === 'PARAMS_MISMATCH'));
    await h.call('POST', `/v1/templates/${code}/disable`, { token: alice.token });
    const disabled = await send({});
    assert.equal(disabled.status, 409);
    assert.equal(disabled.json.code, 'TEMPLATE_DISABLED');
  });

  it('200 concurrent sends to one mobile with max 5 per hour: exactly 5 accepted', async () => {
    const alice = await member(h, 'burst');
    const code = await template(h, alice.token, { policy: { mobile: { maxPerHour: 5 } } });
    const mobile = randomMobile();
    const replies = await Promise.all(
      Array.from({ length: 200 }, () =>
        h.call('POST', '/v1/messages', {
          token: alice.token,
          body: { templateCode: code, mobile, params: { name: 'a', order: 'b' } },
        }),
      ),
    );
    assert.equal(replies.filter((r) => r.status === 202).length, 5);
    const refused = replies.filter((r) => r.status === 429);
    assert.equal(refused.length, 195);
    assert.ok(refused.every((r) => r.json.code === 'RATE_LIMIT_MOBILE_HOURLY'));
    assert.ok(Number(refused[0]!.headers.get('retry-after')) > 0);
  });

  it('Idempotency-Key: same body → same 202 and one message; other body → 422', async () => {
    const alice = await member(h, 'idem');
    const code = await template(h, alice.token);
    const body = { templateCode: code, mobile: randomMobile(), params: { name: 'a', order: 'b' } };
    const headers = { 'idempotency-key': 'order-42' };
    const replies = await Promise.all(
      Array.from({ length: 5 }, () =>
        h.call('POST', '/v1/messages', { token: alice.token, body, headers }),
      ),
    );
    assert.ok(
      replies.every((r) => r.status === 202),
      replies.map((r) => r.text).join(),
    );
    assert.equal(new Set(replies.map((r) => r.json.messageId)).size, 1);
    assert.equal(new Set(replies.map((r) => r.json.position)).size, 1);
    const events = await h.deps.eventStore.readStream(
      `message-${String(replies[0]!.json.messageId)}`,
    );
    assert.equal(events.length, 1);
    const other = await unchanged(() =>
      h.call('POST', '/v1/messages', {
        token: alice.token,
        body: { ...body, params: { name: 'z', order: 'b' } },
        headers,
      }),
    );
    assert.equal(other.status, 422);
    assert.equal(other.json.code, 'IDEMPOTENCY_KEY_REUSED');
  });

  it('marketing templates refuse numbers that opted out with the tenant', async () => {
    const alice = await member(h, 'mkt');
    const code = await template(h, alice.token, { kind: 'marketing', content: 'Sale!' });
    const mobile = '+8613900139000';
    await h.deps.eventStore.append(
      `optout-${alice.userId}-${mobile}`,
      [{ type: 'mobile.opted-out.v1', data: { tenantId: alice.userId, mobile, keyword: 'TD' } }],
      'no_stream',
    );
    const r = await unchanged(() =>
      h.call('POST', '/v1/messages', {
        token: alice.token,
        body: { templateCode: code, mobile, params: {} },
      }),
    );
    assert.equal(r.status, 422);
    assert.equal(r.json.code, 'MOBILE_OPTED_OUT');
    const ok = await h.call('POST', '/v1/messages', {
      token: alice.token,
      body: { templateCode: code, mobile: randomMobile(), params: {} },
    });
    assert.equal(ok.status, 202);
  });
});

describe('verification codes', () => {
  async function setup(verification: Record<string, number> = {}) {
    const alice = await member(h, 'ver');
    const r = await h.call('POST', '/v1/templates', {
      token: alice.token,
      body: {
        name: 'otp',
        kind: 'verification',
        signature: 'Acme',
        content: 'Your code is ${code}',
        verification: { maxAttempts: 3, ...verification },
      },
    });
    await approve(h, String(r.json.templateCode));
    return { token: alice.token, code: String(r.json.templateCode) };
  }

  async function issue(token: string, templateCode: string, mobile: string): Promise<string> {
    // the code only reaches the dispatcher sealed: open it as the dispatcher would
    const r = await h.call('POST', '/v1/verifications', { token, body: { templateCode, mobile } });
    assert.equal(r.status, 202, r.text);
    assert.ok(Date.parse(String(r.json.expiresAt)) > Date.now());
    const [event] = await h.deps.eventStore.readStream(`message-${String(r.json.messageId)}`);
    const data = event!.data as { sealedContent: string; content: string; messageId: string };
    const { open } = await import('../../platform/crypto/index.ts');
    const text = open(h.config.codes.encryptionKey, data.sealedContent, data.messageId);
    assert.equal(data.content, 'Your code is ******');
    return /(\d{6})/.exec(text)![1]!;
  }

  it('valid once; wrong → 422 with attempts left; used → 410; the code is stored nowhere in clear', async () => {
    const { token, code: templateCode } = await setup();
    const mobile = randomMobile();
    const code = await issue(token, templateCode, mobile);
    const wrongCode = code === '000000' ? '111111' : '000000';
    const wrong = await h.call('POST', '/v1/verifications/check', {
      token,
      body: { templateCode, mobile, code: wrongCode },
    });
    assert.equal(wrong.status, 422);
    assert.equal(wrong.json.code, 'VERIFICATION_CODE_WRONG');
    assert.equal((wrong.json.details as { attemptsLeft: number }).attemptsLeft, 2);
    const ok = await h.call('POST', '/v1/verifications/check', {
      token,
      body: { templateCode, mobile, code },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { valid: true });
    const again = await h.call('POST', '/v1/verifications/check', {
      token,
      body: { templateCode, mobile, code },
    });
    assert.equal(again.status, 410);
    assert.equal(again.json.code, 'VERIFICATION_ALREADY_USED');

    const [rows] = await h.db.pool.query(
      'SELECT COUNT(*) AS n FROM es_events WHERE data LIKE ? OR metadata LIKE ?',
      [`%${code}%`, `%${code}%`],
    );
    assert.equal(Number((rows as { n: number }[])[0]!.n), 0, 'the code appears in no stored event');
    assert.ok(!h.logs.join('').includes(code), 'nor in the logs');
  });

  it('exhausted after the last attempt → 410; expired → 410; none sent → 404', async () => {
    const { token, code: templateCode } = await setup({ maxAttempts: 2, ttlSeconds: 1 });
    const mobile = randomMobile();
    const code = await issue(token, templateCode, mobile);
    const bad = code === '000000' ? '111111' : '000000';
    const statuses = [];
    for (let i = 0; i < 3; i += 1) {
      const r = await h.call('POST', '/v1/verifications/check', {
        token,
        body: { templateCode, mobile, code: bad },
      });
      statuses.push(`${r.status} ${String(r.json.code)}`);
    }
    assert.deepEqual(statuses, [
      '422 VERIFICATION_CODE_WRONG',
      '422 VERIFICATION_CODE_WRONG',
      '410 VERIFICATION_ATTEMPTS_EXHAUSTED',
    ]);
    const right = await h.call('POST', '/v1/verifications/check', {
      token,
      body: { templateCode, mobile, code },
    });
    assert.equal(right.status, 410);

    const other = randomMobile();
    const second = await issue(token, templateCode, other);
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await h.call('POST', '/v1/verifications/check', {
      token,
      body: { templateCode, mobile: other, code: second },
    });
    assert.equal(expired.status, 410);
    assert.equal(expired.json.code, 'VERIFICATION_EXPIRED');

    const none = await h.call('POST', '/v1/verifications/check', {
      token,
      body: { templateCode, mobile: randomMobile(), code: '123456' },
    });
    assert.equal(none.status, 404);
    assert.equal(none.json.code, 'VERIFICATION_NOT_FOUND');
  });

  it('verification templates send through /v1/verifications only, and keep the 60 s interval', async () => {
    const { token, code: templateCode } = await setup();
    const mobile = randomMobile();
    const viaMessages = await unchanged(() =>
      h.call('POST', '/v1/messages', {
        token,
        body: { templateCode, mobile, params: { code: '1234' } },
      }),
    );
    assert.equal(viaMessages.json.code, 'WRONG_TEMPLATE_KIND');
    await issue(token, templateCode, mobile);
    const tooSoon = await unchanged(() =>
      h.call('POST', '/v1/verifications', { token, body: { templateCode, mobile } }),
    );
    assert.equal(tooSoon.status, 429);
    assert.equal(tooSoon.json.code, 'RATE_LIMIT_MOBILE_INTERVAL');
    assert.ok(Number(tooSoon.headers.get('retry-after')) > 50);
  });
});

describe('API description', () => {
  it('serves /openapi.json (3.1) and a /docs page listing paths and error codes', async () => {
    const doc = await h.call('GET', '/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.json.openapi, '3.1.0');
    assert.ok(Object.hasOwn(doc.json.paths as object, '/v1/messages'));
    const page = await h.call('GET', '/docs');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.ok(page.text.includes('/v1/verifications/check'));
    assert.ok(page.text.includes('RATE_LIMIT_MOBILE_HOURLY'));
  });
});

describe('probes', () => {
  it('/readyz checks the event store and Redis', async () => {
    const r = await h.call('GET', '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok', checks: { eventStore: 'ok', redis: 'ok' } });
  });
});
