// The command service remembers template state, but every send checks the
// stream: a change appended by any process (here: straight into the event
// store) applies to the very next send, and a re-created stream is not
// mistaken for the remembered one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { approve, member, randomMobile, startHarness, template, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness('tplcache');
});
after(async () => {
  await h.close();
});

const meta = { actor: { type: 'user' as const, id: 'elsewhere' } };

describe('template state between sends', () => {
  it('a disable or enable appended by another process applies to the next sends at once', async () => {
    const alice = await member(h, 'cache');
    const code = await template(h, alice.token);
    const send = () =>
      h.call('POST', '/v1/messages', {
        token: alice.token,
        body: { templateCode: code, mobile: randomMobile(), params: { name: 'a', order: 'b' } },
      });
    assert.equal((await send()).status, 202);
    await h.deps.eventStore.append(
      `template-${code}`,
      [{ type: 'template.disabled.v1', data: { templateCode: code }, metadata: meta }],
      'any',
    );
    const refused = await Promise.all(Array.from({ length: 20 }, send));
    assert.deepEqual(
      refused.map((r) => r.json.code),
      Array.from({ length: 20 }, () => 'TEMPLATE_DISABLED'),
    );
    await h.deps.eventStore.append(
      `template-${code}`,
      [{ type: 'template.enabled.v1', data: { templateCode: code }, metadata: meta }],
      'any',
    );
    const accepted = await Promise.all(Array.from({ length: 20 }, send));
    assert.deepEqual(
      accepted.map((r) => r.status),
      Array.from({ length: 20 }, () => 202),
    );
    const updated = await h.call('PATCH', `/v1/templates/${code}`, {
      token: alice.token,
      body: { content: 'Only ${name} now.' },
    });
    assert.equal(updated.status, 200);
    const old = await send();
    assert.equal(old.status, 422);
    assert.equal(old.json.code, 'PARAMS_MISMATCH');
  });

  it('a template stream deleted and re-created for another tenant is not the remembered one', async () => {
    const alice = await member(h, 'owner');
    const bob = await member(h, 'other');
    const code = await template(h, alice.token);
    const send = (token: string) =>
      h.call('POST', '/v1/messages', {
        token,
        body: { templateCode: code, mobile: randomMobile(), params: { name: 'a', order: 'b' } },
      });
    assert.equal((await send(alice.token)).status, 202);
    const [created] = await h.deps.eventStore.readStream(`template-${code}`);
    await h.deps.eventStore.deleteStream(`template-${code}`);
    await h.deps.eventStore.append(
      `template-${code}`,
      [
        {
          type: 'template.created.v1',
          data: { ...created!.data, tenantId: bob.userId },
          metadata: meta,
        },
      ],
      'no_stream',
    );
    await approve(h, code);
    const gone = await send(alice.token);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.code, 'TEMPLATE_NOT_FOUND');
    assert.equal((await send(bob.token)).status, 202);
  });
});
