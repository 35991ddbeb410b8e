// Logins that cannot be raced, and tokens that can be ended: real MySQL event
// store and Redis, the command and query services as a client calls them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import {
  createAdmin,
  login,
  registerUser,
  startCommandService,
} from '../../command-service/index.ts';
import { MysqlEventStore } from '../../platform/eventStore/index.ts';
import { tcpProxy } from '../support/tcpProxy.ts';
import { userStream } from '../../domain/index.ts';
import { startQueryService, type RunningQueryService } from '../../query-service/index.ts';
import { member, startHarness, type Harness } from '../command/harness.ts';

let h: Harness;
let query: RunningQueryService;
let mongo: MongoClient;

before(async () => {
  h = await startHarness('sessions', { STREAMING_LOGIN_MAX_FAILURES: '5' });
  mongo = new MongoClient('mongodb://127.0.0.1:27017', { retryWrites: false });
  query = await startQueryService(
    {
      config: h.config,
      logger: h.deps.logger,
      eventStore: h.deps.eventStore,
      mysql: h.db.pool,
      redis: h.redis,
      mongo: { client: mongo, db: mongo.db(`streaming_t_sessions_${Date.now()}`) },
      redisPrefix: h.prefix,
    },
    { port: 0 },
  );
});
after(async () => {
  await query.close();
  await mongo.close();
  await h.close();
});

/** POST from a given loopback source address (127.0.0.0/8 is all loopback on Linux). */
function postFrom(
  localAddress: string,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(path, h.url);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function queryStatus(token: string): Promise<number> {
  const res = await fetch(new URL('/v1/templates', query.url), {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  return res.status;
}

async function commandStatus(token: string): Promise<number> {
  return (await h.call('GET', '/v1/api-keys', { token })).status;
}

async function registered(name: string, password = 'correct horse battery') {
  const r = await h.call('POST', '/v1/users', { body: { username: name, password } });
  assert.equal(r.status, 201, r.text);
  return String(r.json.userId);
}

describe('login throttling', () => {
  it('20 parallel wrong passwords: at most the allowed number are tried; the owner logs in from another address', async () => {
    await registered('target');
    const before = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        postFrom('127.0.0.1', '/v1/sessions', { username: 'target', password: 'wrong guess!' }),
      ),
    );
    const tried = replies.filter((r) => r.status === 401);
    const throttled = replies.filter((r) => r.status === 429);
    assert.equal(tried.length + throttled.length, 20, JSON.stringify(replies.map((r) => r.status)));
    assert.ok(tried.length <= h.config.auth.loginMaxFailures, `${tried.length} tried`);
    assert.ok(throttled.every((r) => r.json.code === 'LOGIN_THROTTLED'));
    // even the right password is refused from the attacker's address now
    const same = await postFrom('127.0.0.1', '/v1/sessions', {
      username: 'target',
      password: 'correct horse battery',
    });
    assert.equal(same.status, 429);
    // the owner, from elsewhere, is not locked out
    const owner = await postFrom('127.0.0.2', '/v1/sessions', {
      username: 'target',
      password: 'correct horse battery',
    });
    assert.equal(owner.status, 200, JSON.stringify(owner.json));
    assert.ok(Date.now() - before < 60_000);
  });

  it('an unknown username is refused like a wrong password, and counted the same', async () => {
    const ip = '127.0.0.3';
    const unknown = await postFrom(ip, '/v1/sessions', {
      username: 'nobody-here',
      password: 'x1234567890',
    });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.code, 'INVALID_CREDENTIALS');
    for (let i = 1; i < h.config.auth.loginMaxFailures; i += 1) {
      await postFrom(ip, '/v1/sessions', { username: 'nobody-here', password: 'x1234567890' });
    }
    const last = await postFrom(ip, '/v1/sessions', { username: 'nobody-here', password: 'x' });
    assert.equal(last.status, 429);
  });

  it('the event store not answering: login answers 503 DEPENDENCY_UNAVAILABLE, and no attempt counts as a failure', async () => {
    await registered('outage');
    // a command service whose event store is the same MariaDB behind a proxy that the test cuts
    const url = new URL(h.db.url);
    const proxy = await tcpProxy(Number(url.port || 3306), url.hostname);
    url.port = String(proxy.port);
    const pool = mysql.createPool({ uri: url.toString(), timezone: 'Z', connectTimeout: 2_000 });
    const eventStore = await MysqlEventStore.create(pool);
    const cut = await startCommandService({ ...h.deps, eventStore }, { port: 0 });
    try {
      await proxy.cut();
      const body = JSON.stringify({ username: 'outage', password: 'correct horse battery' });
      // more attempts than the failures allowed for this username from this address
      for (let i = 0; i <= h.config.auth.loginMaxFailures; i += 1) {
        const res = await fetch(new URL('/v1/sessions', cut.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const json = (await res.json()) as Record<string, unknown>;
        assert.equal(res.status, 503, JSON.stringify(json));
        assert.equal(json.code, 'DEPENDENCY_UNAVAILABLE');
        assert.ok(Number(res.headers.get('retry-after')) > 0, 'with Retry-After');
      }
    } finally {
      await cut.close();
      await eventStore.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
    }
    // the store answers again: the owner is not locked out (none of those attempts counted)
    const after = await postFrom('127.0.0.1', '/v1/sessions', {
      username: 'outage',
      password: 'correct horse battery',
    });
    assert.equal(after.status, 200, JSON.stringify(after.json));
  });

  it('registration is throttled per address, counted before any work', async () => {
    const small = await startHarness('register', { STREAMING_REGISTER_MAX_PER_IP: '3' });
    try {
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          small.call('POST', '/v1/users', {
            body: { username: `reg-${i}`, password: 'correct horse battery' },
          }),
        ),
      );
      assert.equal(replies.filter((r) => r.status === 201).length, 3);
      const refused = replies.filter((r) => r.status === 429);
      assert.equal(refused.length, 5);
      assert.ok(refused.every((r) => r.json.code === 'REGISTRATION_THROTTLED'));
      assert.ok(Number(refused[0]!.headers.get('retry-after')) > 0);
    } finally {
      await small.close();
    }
  });
});

describe('password hashing', () => {
  it('re-hashes a hash of an older cost at the next successful login, and the token stays valid', async () => {
    const { userId } = await registerUser(
      h.deps.eventStore,
      { username: 'oldhash', password: 'correct horse battery' },
      'member',
      {},
      { logN: 10 },
    );
    const first = await login(h.deps, 'oldhash', 'correct horse battery', '127.0.0.9');
    const events = await h.deps.eventStore.readStream(userStream(userId));
    const rehashed = events.filter((e) => e.type === 'user.password-rehashed.v1');
    assert.equal(rehashed.length, 1);
    const hash = String(rehashed[0]!.data.passwordHash);
    assert.equal(hash.split('$')[1], String(2 ** h.config.auth.passwordLogN));
    // the first token still works; a second login does not re-hash again
    assert.equal(await commandStatus(first.token), 200);
    await login(h.deps, 'oldhash', 'correct horse battery', '127.0.0.9');
    const again = await h.deps.eventStore.readStream(userStream(userId));
    assert.equal(again.filter((e) => e.type === 'user.password-rehashed.v1').length, 1);
  });
});

describe('ending tokens', () => {
  it('after logout the old token answers 401 on both APIs; another session goes on', async () => {
    const alice = await member(h, 'logout');
    const login2 = await h.call('POST', '/v1/sessions', {
      body: { username: await usernameOf(alice.userId), password: 'correct horse battery' },
    });
    const other = String(login2.json.token);
    assert.equal(await commandStatus(alice.token), 200);
    assert.notEqual(await queryStatus(alice.token), 401);
    const out = await h.call('POST', '/v1/sessions/logout', { token: alice.token });
    assert.equal(out.status, 204);
    const cmd = await h.call('GET', '/v1/api-keys', { token: alice.token });
    assert.equal(cmd.status, 401);
    assert.equal(cmd.json.code, 'TOKEN_REVOKED');
    assert.equal(await queryStatus(alice.token), 401);
    assert.equal(await commandStatus(other), 200);
    assert.notEqual(await queryStatus(other), 401);
  });

  it('after a password change every old token answers 401 on both APIs; API keys keep working', async () => {
    const bob = await member(h, 'change');
    const key = await h.call('POST', '/v1/api-keys', { token: bob.token, body: { name: 'ci' } });
    assert.equal(key.status, 201);
    const apiKey = String(key.json.key);
    const wrong = await h.call('POST', '/v1/users/me/password', {
      token: bob.token,
      body: { currentPassword: 'not the password', newPassword: 'a brand new password' },
    });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.code, 'CURRENT_PASSWORD_WRONG');
    assert.equal(await commandStatus(bob.token), 200, 'a wrong current password ends nothing');
    const changed = await h.call('POST', '/v1/users/me/password', {
      token: bob.token,
      body: { currentPassword: 'correct horse battery', newPassword: 'a brand new password' },
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(await commandStatus(bob.token), 401);
    assert.equal(await queryStatus(bob.token), 401);
    const fresh = String(changed.json.token);
    assert.equal(await commandStatus(fresh), 200);
    assert.notEqual(await queryStatus(fresh), 401);
    assert.equal(await commandStatus(apiKey), 200, 'API keys survive a password change');
    const name = await usernameOf(bob.userId);
    const oldPw = await h.call('POST', '/v1/sessions', {
      body: { username: name, password: 'correct horse battery' },
    });
    assert.equal(oldPw.status, 401);
    const newPw = await h.call('POST', '/v1/sessions', {
      body: { username: name, password: 'a brand new password' },
    });
    assert.equal(newPw.status, 200);
  });

  it('an admin disabling a user ends its tokens and its API keys on both APIs; enabling lets it log in anew', async () => {
    await createAdmin({
      config: h.config,
      eventStore: h.deps.eventStore,
      username: 'root',
      password: 'admin password',
    });
    const admin = String(
      (
        await h.call('POST', '/v1/sessions', {
          body: { username: 'root', password: 'admin password' },
        })
      ).json.token,
    );
    const carol = await member(h, 'disable');
    const key = String(
      (await h.call('POST', '/v1/api-keys', { token: carol.token, body: { name: 'k' } })).json.key,
    );
    const notAdmin = await h.call('POST', `/v1/users/${carol.userId}/disable`, {
      token: carol.token,
    });
    assert.equal(notAdmin.status, 403);
    const r = await h.call('POST', `/v1/users/${carol.userId}/disable`, { token: admin });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { userId: carol.userId, disabled: true });
    for (const token of [carol.token, key]) {
      const c = await h.call('GET', '/v1/api-keys', { token });
      assert.equal(c.status, 401);
      assert.equal(c.json.code, 'USER_DISABLED');
      assert.equal(await queryStatus(token), 401);
    }
    const name = await usernameOf(carol.userId);
    const refused = await h.call('POST', '/v1/sessions', {
      body: { username: name, password: 'correct horse battery' },
    });
    assert.equal(refused.status, 401);
    assert.equal(refused.json.code, 'USER_DISABLED');
    assert.equal(
      (await h.call('POST', `/v1/users/${carol.userId}/enable`, { token: admin })).status,
      200,
    );
    assert.equal(await commandStatus(carol.token), 401, 'old tokens stay ended');
    assert.equal(await commandStatus(key), 200, 'its keys work again');
    const back = await h.call('POST', '/v1/sessions', {
      body: { username: name, password: 'correct horse battery' },
    });
    assert.equal(back.status, 200);
    assert.equal(await commandStatus(String(back.json.token)), 200);
  });

  it('losing the Redis copy revives no token: it is rebuilt from the user stream', async () => {
    const dave = await member(h, 'flush');
    await h.call('POST', '/v1/sessions/logout', { token: dave.token });
    const keys = await h.redis.keys(`${h.prefix}auth:*`);
    assert.ok(keys.length > 0);
    await h.redis.del(...keys);
    assert.equal(await commandStatus(dave.token), 401);
    assert.equal(await queryStatus(dave.token), 401);
  });
});

async function usernameOf(userId: string): Promise<string> {
  const events = await h.deps.eventStore.readStream(userStream(userId));
  return String(events[0]!.data.username);
}
