// Opt-outs on the real paths: a STOP reply (pushed by the simulated vendor to
// the webhooks) opts the number out of the tenant's marketing, a START reply
// opts it back in and marketing goes again; the tenant's own POST and DELETE
// /v1/opt-outs do the same, and both are recorded as events.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendMessage, setOptOut } from '../../command-service/index.ts';
import { optOutStream } from '../../domain/index.ts';
import { eventually } from '../support/system.ts';
import { startSends, type SendsHarness } from './support.ts';

describe('opt-outs', () => {
  let s: SendsHarness;
  let code: string;
  before(async () => {
    s = await startSends('optouts', [{ id: 'opt-aliyun', vendor: 'aliyun' }]);
    code = await s.template('marketing');
    await s.startProcessors();
  });
  after(async () => {
    await s?.close();
  });

  const send = (mobile: string) =>
    sendMessage(s.cmd, s.tenant, { templateCode: code, mobile, params: { order: '9' } }, {});
  const reply = async (mobile: string, text: string) => {
    const r = await s.h.admin('POST', '/inbound', { accountId: 'opt-aliyun', mobile, text });
    assert.ok(!('error' in r), JSON.stringify(r));
  };
  const events = async (mobile: string) =>
    (await s.h.eventStore.readStream(optOutStream(s.tenant.userId, mobile))).map((e) => e.type);

  it('opt-out by STOP, then START: marketing goes again', async () => {
    const mobile = '+8613700000001';
    const first = await send(mobile);
    await s.waitFor([first.messageId], ['submitted', 'delivered'], 30_000);
    await reply(mobile, 'STOP');
    await eventually('the opt-out', async () =>
      (await events(mobile)).includes('mobile.opted-out.v1') ? true : undefined,
    );
    await assert.rejects(send(mobile), { code: 'MOBILE_OPTED_OUT' });
    await reply(mobile, 'START');
    await eventually('the opt-in', async () =>
      (await events(mobile)).includes('mobile.opted-in.v1') ? true : undefined,
    );
    const again = await send(mobile);
    await s.waitFor([again.messageId], ['submitted', 'delivered'], 30_000);
    assert.deepEqual(await events(mobile), ['mobile.opted-out.v1', 'mobile.opted-in.v1']);
  });

  it('退订 then 订阅, and UNSTOP, opt back in the same way', async () => {
    const mobile = '+8613700000002';
    const first = await send(mobile);
    await s.waitFor([first.messageId], ['submitted', 'delivered'], 30_000);
    for (const [out, back] of [
      ['退订', '订阅'],
      ['TD', 'UNSTOP'],
    ]) {
      const n = (await events(mobile)).length;
      await reply(mobile, out!);
      await eventually('the opt-out', async () =>
        (await events(mobile)).length === n + 1 ? true : undefined,
      );
      await assert.rejects(send(mobile), { code: 'MOBILE_OPTED_OUT' });
      await reply(mobile, back!);
      await eventually('the opt-in', async () =>
        (await events(mobile)).length === n + 2 ? true : undefined,
      );
      await send(mobile);
    }
  });

  it('the tenant opts a number out and back in through the API', async () => {
    const mobile = '13700000003';
    assert.deepEqual(await setOptOut(s.cmd, s.tenant, mobile, true, {}), {
      mobile: '+8613700000003',
      optedOut: true,
    });
    // twice is the same
    await setOptOut(s.cmd, s.tenant, mobile, true, {});
    await assert.rejects(send(mobile), { code: 'MOBILE_OPTED_OUT' });
    await setOptOut(s.cmd, s.tenant, mobile, false, {});
    const again = await send(mobile);
    await s.waitFor([again.messageId], ['submitted', 'delivered'], 30_000);
    assert.deepEqual(await events('+8613700000003'), ['mobile.opted-out.v1', 'mobile.opted-in.v1']);
    await assert.rejects(setOptOut(s.cmd, s.tenant, 'not a number', true, {}), {
      code: 'INVALID_MOBILE',
    });
  });
});
