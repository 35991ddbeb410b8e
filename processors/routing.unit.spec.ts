import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate } from '../domain/decider.ts';
import {
  messageDecider,
  type ExistingMessage,
  type MessageEvent,
} from '../domain/messages/index.ts';
import { backoffMs, currentAccount, nextAccount, sendParams } from './routing.ts';

const accepted = (suppliers: string[]): MessageEvent => ({
  type: 'sms.accepted.v1',
  data: {
    messageId: 'm1',
    tenantId: 't',
    templateId: 'tpl',
    templateCode: 'SMS_1',
    kind: 'notification',
    mobile: '+8613900000000',
    content: 'x',
    segments: 1,
    encoding: 'UCS-2',
    suppliers,
    requestHash: 'h',
  },
});
const state = (events: MessageEvent[]) => aggregate(messageDecider, events) as ExistingMessage;
const reason = { code: 'isv.X', message: '' };

describe('routing', () => {
  it('starts with the first account when no weights are set, then follows failovers', () => {
    const s = state([accepted(['a', 'b', 'c'])]);
    assert.equal(currentAccount(s, ['a', 'b', 'c'], new Map()), 'a');
    const after = state([
      accepted(['a', 'b', 'c']),
      {
        type: 'sms.failed-over.v1',
        data: { messageId: 'm1', fromAccount: 'a', toAccount: 'b', reason },
      },
    ]);
    assert.equal(currentAccount(after, ['a', 'b', 'c'], new Map()), 'b');
    assert.equal(nextAccount(after, ['a', 'b', 'c'], ['b']), 'c');
  });

  it('shares first calls by weight', () => {
    const s = state([accepted(['a', 'b'])]);
    const w = new Map([
      ['a', 1],
      ['b', 3],
    ]);
    assert.equal(
      currentAccount(s, ['a', 'b'], w, () => 0.1),
      'a',
    );
    assert.equal(
      currentAccount(s, ['a', 'b'], w, () => 0.5),
      'b',
    );
  });

  it('has nothing left once every account was tried', () => {
    const s = state([
      accepted(['a']),
      { type: 'sms.failed-over.v1', data: { messageId: 'm1', fromAccount: 'a', reason } },
    ]);
    assert.equal(nextAccount(s, ['a'], ['a']), undefined);
  });

  it('backs off exponentially with jitter, capped', () => {
    assert.equal(
      backoffMs(0, 100, 10_000, () => 0),
      50,
    );
    assert.equal(
      backoffMs(3, 100, 10_000, () => 0.999),
      800,
    );
    assert.ok(backoffMs(20, 100, 10_000, () => 0.999) <= 10_000);
  });

  it('sends the opened params of a verification message, never the masked ones', () => {
    assert.deepEqual(sendParams({ code: '******' }, { code: '482913' }), { code: '482913' });
    assert.deepEqual(sendParams({ a: '1' }, undefined), { a: '1' });
  });
});
