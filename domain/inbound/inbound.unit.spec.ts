import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  isOptOutKeyword,
  optInKeyword,
  optOutDecider,
  optOutKeyword,
  optOutStream,
  type MobileOptedOut,
} from './index.ts';

describe('isOptOutKeyword', () => {
  it('recognises the keywords, case-insensitive and trimmed', () => {
    for (const text of [
      'STOP',
      'stop',
      ' Stop ',
      'TD',
      'td',
      'T',
      't',
      '退订',
      ' 退订 ',
      'UNSUBSCRIBE',
      'unsubscribe',
    ]) {
      assert.equal(isOptOutKeyword(text), true, text);
    }
  });

  it('tolerates full-width letters, the ideographic space and trailing punctuation', () => {
    for (const text of [
      'ＳＴＯＰ',
      'ｔｄ',
      'Ｔ',
      '\u3000退订\u3000',
      '退订。',
      'STOP!',
      'ＴＤ！',
    ]) {
      assert.equal(isOptOutKeyword(text), true, text);
    }
  });

  it('does not match other texts or keywords inside a sentence', () => {
    for (const text of [
      '',
      ' ',
      'STOPP',
      'please stop',
      'TDD',
      '退订吗谢谢',
      'TT',
      'S T O P',
      '不退订',
    ]) {
      assert.equal(isOptOutKeyword(text), false, text);
    }
  });

  it('returns the canonical keyword', () => {
    assert.equal(optOutKeyword(' ｓｔｏｐ '), 'STOP');
    assert.equal(optOutKeyword('退订'), '退订');
    assert.equal(optOutKeyword('hello'), undefined);
  });
});

describe('OptOut decider', () => {
  const optedOut: MobileOptedOut = {
    type: 'mobile.opted-out.v1',
    data: { tenantId: 'acme', mobile: '+8613800138000', keyword: 'TD', inboundId: 'in-1' },
  };

  it('opts a number out', () => {
    given(optOutDecider).when({ type: 'OptOut', data: optedOut.data }).then([optedOut]);
    given(optOutDecider)
      .when({
        type: 'OptOut',
        data: { tenantId: 'acme', mobile: '+8613800138000', keyword: 'STOP', inboundId: undefined },
      })
      .then([
        {
          type: 'mobile.opted-out.v1',
          data: { tenantId: 'acme', mobile: '+8613800138000', keyword: 'STOP' },
        },
      ]);
  });

  it('is a no-op when already opted out', () => {
    given(optOutDecider, [optedOut])
      .when({ type: 'OptOut', data: { ...optedOut.data, inboundId: 'in-2' } })
      .thenNothing();
  });

  it('rejects a missing number', () => {
    given(optOutDecider)
      .when({ type: 'OptOut', data: { ...optedOut.data, mobile: '' } })
      .thenThrows('VALIDATION_FAILED', { field: 'mobile' });
  });

  it('state says whether the number opted out', () => {
    assert.equal(optOutDecider.initialState().optedOut, false);
    assert.deepEqual(aggregate(optOutDecider, [optedOut]), {
      optedOut: true,
      keyword: 'TD',
      inboundId: 'in-1',
      seenInbound: ['in-1'],
    });
    assert.equal(optOutStream('acme', '+8613800138000'), 'optout-acme-+8613800138000');
  });
});

describe('opt back in', () => {
  const out = {
    type: 'mobile.opted-out.v1' as const,
    data: { tenantId: 't', mobile: '+8613800138000', keyword: 'STOP', inboundId: 'i1' },
  };
  const inCmd = {
    type: 'OptIn' as const,
    data: { tenantId: 't', mobile: '+8613800138000', keyword: 'START', inboundId: 'i2' },
  };
  it('START, 订阅 and UNSTOP are opt-in keywords', () => {
    assert.equal(optInKeyword(' start! '), 'START');
    assert.equal(optInKeyword('订阅'), '订阅');
    assert.equal(optInKeyword('unstop'), 'UNSTOP');
    assert.equal(optInKeyword('STOP'), undefined);
  });
  it('records the opt-in of an opted-out number, once', () => {
    const opted = { type: 'mobile.opted-in.v1' as const, data: inCmd.data };
    given(optOutDecider, [out]).when(inCmd).then([opted]);
    given(optOutDecider, [out, opted]).when(inCmd).thenNothing();
    given(optOutDecider, []).when(inCmd).thenNothing();
  });
  it('a STOP pushed again after START changes nothing', () => {
    const opted = { type: 'mobile.opted-in.v1' as const, data: inCmd.data };
    given(optOutDecider, [out, opted]).when({ type: 'OptOut', data: out.data }).thenNothing();
  });
});
