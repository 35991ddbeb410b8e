import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { checkParams, fillPlaceholders, parsePlaceholders } from './index.ts';

function reasonOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DomainError);
    assert.equal(e.code, 'TEMPLATE_CONTENT_INVALID');
    return e.details?.reason;
  }
  assert.fail('expected TEMPLATE_CONTENT_INVALID');
}

describe('parsePlaceholders', () => {
  it('finds distinct names in order of first use', () => {
    assert.deepEqual(parsePlaceholders('Hi ${name}, code ${code}; again ${name}.'), [
      'name',
      'code',
    ]);
    assert.deepEqual(parsePlaceholders('${_a1}${B_2}'), ['_a1', 'B_2']);
    assert.deepEqual(parsePlaceholders('no placeholders, a lone $ and { and }'), []);
  });

  it('rejects an unclosed placeholder', () => {
    assert.equal(
      reasonOf(() => parsePlaceholders('code ${code')),
      'UNBALANCED_PLACEHOLDER',
    );
    assert.equal(
      reasonOf(() => parsePlaceholders('${a} then ${')),
      'UNBALANCED_PLACEHOLDER',
    );
  });

  it('rejects invalid names', () => {
    for (const bad of ['${}', '${1a}', '${a-b}', '${a b}', '${中文}', '${${a}}']) {
      assert.equal(
        reasonOf(() => parsePlaceholders(bad)),
        'INVALID_PLACEHOLDER_NAME',
        bad,
      );
    }
  });
});

describe('checkParams', () => {
  it('passes when params fill exactly the placeholders', () => {
    assert.doesNotThrow(() => checkParams(['a', 'b'], { b: '2', a: '1' }));
    assert.doesNotThrow(() => checkParams([], {}));
  });

  it('names missing and extra params', () => {
    assert.throws(
      () => checkParams(['code', 'minutes'], { code: '1', extra: 'x' }),
      (e: unknown) =>
        e instanceof DomainError &&
        e.code === 'PARAMS_MISMATCH' &&
        /minutes/.test(e.message) &&
        /extra/.test(e.message) &&
        JSON.stringify(e.details) === JSON.stringify({ missing: ['minutes'], extra: ['extra'] }),
    );
  });

  it('does not treat inherited properties as given', () => {
    assert.throws(
      () => checkParams(['toString'], {}),
      (e: unknown) => e instanceof DomainError && e.code === 'PARAMS_MISMATCH',
    );
  });

  it('rejects non-string values', () => {
    assert.throws(
      () => checkParams(['n'], { n: 5 } as unknown as Record<string, string>),
      (e: unknown) =>
        e instanceof DomainError && e.code === 'PARAMS_MISMATCH' && /n/.test(e.message),
    );
  });
});

describe('fillPlaceholders', () => {
  it('fills every occurrence', () => {
    assert.equal(fillPlaceholders('${a}+${a}=${b}', { a: '1', b: '2' }), '1+1=2');
  });
});
