// The rules of whether a send may be accepted, as pure functions (no I/O).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../errors.ts';
import { checkNotOptedOut, checkRepeat, checkSendable } from './acceptance.ts';

const template = { templateCode: 'T1', enabled: true, kind: 'notification' as const };

function codeOf(run: () => void): { code: string; details: unknown } | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof DomainError);
    return { code: err.code, details: err.details };
  }
}

describe('checkSendable', () => {
  it('passes an enabled template of the kind the call sends', () => {
    assert.equal(
      codeOf(() => checkSendable(template, false)),
      undefined,
    );
    assert.equal(
      codeOf(() => checkSendable({ ...template, kind: 'verification' }, true)),
      undefined,
    );
  });
  it('refuses a disabled template before its kind', () => {
    assert.deepEqual(
      codeOf(() => checkSendable({ ...template, enabled: false, kind: 'verification' }, false)),
      { code: 'TEMPLATE_DISABLED', details: undefined },
    );
  });
  it('sends codes only through verification templates, and those only as codes', () => {
    assert.deepEqual(
      codeOf(() => checkSendable({ ...template, kind: 'marketing' }, true)),
      { code: 'WRONG_TEMPLATE_KIND', details: { kind: 'marketing' } },
    );
    assert.deepEqual(
      codeOf(() => checkSendable({ ...template, kind: 'verification' }, false)),
      { code: 'WRONG_TEMPLATE_KIND', details: { kind: 'verification' } },
    );
  });
});

describe('checkNotOptedOut', () => {
  it('refuses only marketing to a number that opted out', () => {
    assert.equal(
      codeOf(() => checkNotOptedOut('marketing', { optedOut: true }))?.code,
      'MOBILE_OPTED_OUT',
    );
    assert.equal(
      codeOf(() => checkNotOptedOut('marketing', { optedOut: false })),
      undefined,
    );
    assert.equal(
      codeOf(() => checkNotOptedOut('notification', { optedOut: true })),
      undefined,
    );
    assert.equal(
      codeOf(() => checkNotOptedOut('verification', { optedOut: true })),
      undefined,
    );
  });
});

describe('checkRepeat', () => {
  it('takes the same request again and refuses another with the same key', () => {
    assert.equal(
      codeOf(() => checkRepeat({ requestHash: 'h1' }, 'h1')),
      undefined,
    );
    assert.equal(
      codeOf(() => checkRepeat({ requestHash: 'h1' }, 'h2'))?.code,
      'IDEMPOTENCY_KEY_REUSED',
    );
  });
});
