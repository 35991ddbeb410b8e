import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { maskMobile, normalizeMobile } from './index.ts';

function problem(input: string, country?: string): unknown {
  try {
    normalizeMobile(input, country);
  } catch (error) {
    assert.ok(error instanceof DomainError);
    assert.equal(error.code, 'INVALID_MOBILE');
    assert.ok(error.message.length > 10);
    return error.details?.reason;
  }
  assert.fail(`expected ${input} to be rejected`);
}

describe('normalizeMobile', () => {
  it('turns Chinese 11-digit mobiles and their prefixed forms into E.164', () => {
    for (const input of [
      '13800138000',
      '+8613800138000',
      '+86 138 0013 8000',
      '+86-138-0013-8000',
      '008613800138000',
      '8613800138000',
      ' 138-0013-8000 ',
      '１３８００１３８０００',
      '(+86) 138 0013 8000',
    ]) {
      assert.equal(normalizeMobile(input), '+8613800138000', input);
    }
  });

  it('accepts other mobile prefixes and other countries', () => {
    assert.equal(normalizeMobile('19912345678'), '+8619912345678');
    assert.equal(normalizeMobile('17012345678'), '+8617012345678');
    assert.equal(normalizeMobile('+14155552671'), '+14155552671');
    assert.equal(normalizeMobile('07400 123456', 'GB'), '+447400123456');
  });

  it('names the problem with bad input', () => {
    assert.equal(problem(''), 'EMPTY');
    assert.equal(problem('   '), 'EMPTY');
    assert.equal(problem('1380013800a'), 'INVALID_CHARACTERS');
    assert.equal(problem('abc'), 'INVALID_CHARACTERS');
    assert.equal(problem('12345'), 'TOO_SHORT');
    assert.equal(problem('1380013800012345678'), 'TOO_LONG');
    assert.equal(problem('1380013800'), 'INVALID_NUMBER');
    assert.equal(problem('12000000000'), 'INVALID_NUMBER');
    assert.equal(problem('010-12345678'), 'NOT_A_MOBILE');
    // non-geographic numbers keep their general pattern in the mobile-only metadata
    assert.equal(problem('+80097007385'), 'NOT_A_MOBILE'); // toll free
    assert.equal(problem('+80840949508'), 'NOT_A_MOBILE'); // shared cost
    assert.equal(problem('13800138000', 'XX'), 'INVALID_COUNTRY');
  });

  it('says how many digits a too-short Chinese number has', () => {
    assert.throws(
      () => normalizeMobile('138001'),
      (e: unknown) => e instanceof DomainError && /6 digits/.test(e.message),
    );
  });
});

describe('maskMobile', () => {
  it('keeps the first 3 and last 4 digits of the national number', () => {
    assert.equal(maskMobile('+8613800138000'), '138****8000');
    assert.equal(maskMobile('13800138000'), '138****8000');
    assert.equal(maskMobile('+86 138-0013-8000'), '138****8000');
    assert.equal(maskMobile('+14155552671'), '415****2671');
  });

  it('masks short and odd input without throwing or revealing it whole', () => {
    assert.equal(maskMobile('123456'), '12****56');
    assert.equal(maskMobile('1234'), '****');
    assert.equal(maskMobile(''), '****');
    assert.equal(maskMobile('not a number'), '****');
    assert.ok(!maskMobile('1380013').includes('1380013'));
  });
});
