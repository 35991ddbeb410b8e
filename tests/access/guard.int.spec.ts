// The SMS-pumping guard under a simulated attack and under normal traffic:
// real MySQL event store and Redis, the command API as a client calls it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAdmin } from '../../command-service/index.ts';
import { messageStream } from '../../domain/index.ts';
import { open } from '../../platform/crypto/index.ts';
import { member, startHarness, template, type Harness, type Reply } from '../command/harness.ts';

let h: Harness;
let admin: string;

before(async () => {
  h = await startHarness('guard');
  await createAdmin({
    config: h.config,
    eventStore: h.deps.eventStore,
    username: 'guard-admin',
    password: 'admin password',
  });
  admin = String(
    (
      await h.call('POST', '/v1/sessions', {
        body: { username: 'guard-admin', password: 'admin password' },
      })
    ).json.token,
  );
});
after(async () => {
  await h.close();
});

/** A random mobile in the range +86 <prefix> (prefix: the first five national digits). */
const inRange = (prefix: string) =>
  `${prefix}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;

async function codeTemplate(token: string): Promise<string> {
  return template(h, token, { kind: 'verification', content: 'Your code is ${code}', policy: {} });
}

const requestCode = (token: string, code: string, mobile: string) =>
  h.call('POST', '/v1/verifications', { token, body: { templateCode: code, mobile } });

async function inBatches(n: number, size: number, work: (i: number) => Promise<Reply>) {
  const out: Reply[] = [];
  for (let i = 0; i < n; i += size) {
    out.push(
      ...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, j) => work(i + j)))),
    );
  }
  return out;
}

async function guardEvents(tenantId: string) {
  return (await h.deps.eventStore.readStream(`verification-guard-${tenantId}`)).map((e) => e.type);
}

describe('SMS-pumping guard', () => {
  it('500 codes to one prefix, none checked → the guard trips, records it, and refuses that prefix only', async () => {
    const mallory = await member(h, 'pump');
    const code = await codeTemplate(mallory.token);
    const replies = await inBatches(500, 25, () =>
      requestCode(mallory.token, code, inRange('13800')),
    );
    const accepted = replies.filter((r) => r.status === 202).length;
    const guarded = replies.filter((r) => r.json.code === 'VERIFICATION_GUARD');
    assert.equal(
      accepted + guarded.length,
      500,
      JSON.stringify(
        replies.find((r) => r.status !== 202 && r.json.code !== 'VERIFICATION_GUARD')?.json,
      ),
    );
    assert.ok(accepted >= h.config.guard.minVolume, `${accepted} accepted`);
    assert.ok(accepted < h.config.guard.minVolume + 50, `${accepted} accepted before the trip`);
    assert.ok(Number(guarded[0]!.headers.get('retry-after')) > 0);
    assert.equal(
      guarded[0]!.json.details && (guarded[0]!.json.details as { prefix: string }).prefix,
      '+8613800',
    );
    assert.deepEqual(await guardEvents(mallory.userId), ['verification.guard-tripped.v1']);

    // admins see it
    const list = await h.call('GET', '/v1/verification-guards', { token: admin });
    assert.equal(list.status, 200);
    const trips = list.json.items as {
      tenantId: string;
      prefix: string;
      sent: number;
      verified: number;
    }[];
    const mine = trips.find((t) => t.tenantId === mallory.userId);
    assert.ok(mine, JSON.stringify(list.json));
    assert.equal(mine.prefix, '+8613800');
    assert.equal(mine.verified, 0);
    assert.ok(mine.sent >= h.config.guard.minVolume);
    assert.equal(
      (await h.call('GET', '/v1/verification-guards', { token: mallory.token })).status,
      403,
    );

    // another prefix of the same tenant, and another tenant on this prefix, still go
    assert.equal((await requestCode(mallory.token, code, inRange('13900'))).status, 202);
    const other = await member(h, 'honest');
    assert.equal(
      (await requestCode(other.token, await codeTemplate(other.token), inRange('13800'))).status,
      202,
    );

    // an admin lifts it
    const lift = await h.call('POST', '/v1/verification-guards/lift', {
      token: admin,
      body: { tenantId: mallory.userId, prefix: '+8613800' },
    });
    assert.equal(lift.status, 204);
    assert.equal((await requestCode(mallory.token, code, inRange('13800'))).status, 202);
    assert.deepEqual(await guardEvents(mallory.userId), [
      'verification.guard-tripped.v1',
      'verification.guard-lifted.v1',
    ]);
    const again = await h.call('POST', '/v1/verification-guards/lift', {
      token: admin,
      body: { tenantId: mallory.userId, prefix: '+8613800' },
    });
    assert.equal(again.status, 404);
  });

  it('a normal mix (about half the codes checked, some never) never trips', async () => {
    const shop = await member(h, 'shop');
    const code = await codeTemplate(shop.token);
    let n = 0;
    const replies = await inBatches(300, 10, async () => {
      const mobile = inRange(n++ % 3 === 0 ? '13600' : '13800');
      const r = await requestCode(shop.token, code, mobile);
      if (r.status === 202 && Math.random() < 0.5) {
        const messageId = String(r.json.messageId);
        const [accepted] = await h.deps.eventStore.readStream(messageStream(messageId));
        const sent = JSON.parse(
          open(h.config.codes.encryptionKey, String(accepted!.data.sealedParams), messageId),
        ) as { code: string };
        const check = await h.call('POST', '/v1/verifications/check', {
          token: shop.token,
          body: { templateCode: code, mobile, code: sent.code },
        });
        assert.equal(check.status, 200, check.text);
      }
      return r;
    });
    assert.ok(
      replies.every((r) => r.status === 202),
      JSON.stringify(replies.find((r) => r.status !== 202)?.json),
    );
    assert.deepEqual(await guardEvents(shop.userId), []);
  });
});
