import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { countSegments, renderMessage, splitSegments } from './index.ts';

const gsm = (n: number): string => 'a'.repeat(n);
const ucs = (n: number): string => '中'.repeat(n);

describe('countSegments', () => {
  const specials = '@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r';
  const table: Array<[string, string, number, string, number]> = [
    ['160 GSM chars', gsm(160), 1, 'GSM-7', 160],
    ['161 GSM chars', gsm(161), 2, 'GSM-7', 161],
    ['306 GSM chars', gsm(306), 2, 'GSM-7', 306],
    ['307 GSM chars', gsm(307), 3, 'GSM-7', 307],
    ['70 UCS-2 chars', ucs(70), 1, 'UCS-2', 70],
    ['71 UCS-2 chars', ucs(71), 2, 'UCS-2', 71],
    ['134 UCS-2 chars', ucs(134), 2, 'UCS-2', 134],
    ['135 UCS-2 chars', ucs(135), 3, 'UCS-2', 135],
    ['80 × €', '€'.repeat(80), 1, 'GSM-7', 160],
    ['81 × €', '€'.repeat(81), 2, 'GSM-7', 162],
    ['empty text', '', 1, 'GSM-7', 0],
    ['GSM basic specials', specials, 1, 'GSM-7', [...specials].length],
  ];
  for (const [name, text, segments, encoding, units] of table) {
    it(`${name} → ${segments}`, () => {
      assert.deepEqual(countSegments(text), { segments, encoding, units });
    });
  }

  it('every extension character counts 2', () => {
    for (const ch of ['^', '{', '}', '\\', '[', '~', ']', '|', '€', '\f']) {
      assert.deepEqual(countSegments(ch), { segments: 1, encoding: 'GSM-7', units: 2 }, ch);
    }
  });

  it('one character outside GSM 03.38 switches the whole text to UCS-2', () => {
    assert.equal(countSegments(gsm(100) + 'ç').encoding, 'UCS-2'); // lower-case ç is not GSM
    assert.equal(countSegments(gsm(100) + 'ç').segments, 2);
    assert.equal(countSegments(gsm(100) + '`').encoding, 'UCS-2');
  });

  it("Aliyun's example: a 160-character Chinese text is 3 messages", () => {
    const text = '【阿里云】' + ucs(155);
    assert.equal([...text].length, 160);
    assert.deepEqual(countSegments(text), { segments: 3, encoding: 'UCS-2', units: 160 });
  });

  it('never splits an extension character across a part boundary', () => {
    // 152 plain + € would need septets 153 and 154: the € moves to part 2.
    const text = gsm(152) + '€' + gsm(10);
    assert.equal(countSegments(text).units, 164);
    const { parts } = splitSegments(text);
    assert.equal(parts.length, 2);
    assert.equal(parts[0], gsm(152));
    assert.equal(parts[1], '€' + gsm(10));
    // 306 septets by ceil would be 2 parts, but the boundary pushes one into a third.
    const tight = gsm(152) + '€' + gsm(152);
    assert.equal(countSegments(tight).units, 306);
    assert.equal(countSegments(tight).segments, 3);
  });

  it('an extension character that fits exactly stays in its part', () => {
    const text = gsm(151) + '€' + gsm(10);
    assert.deepEqual(splitSegments(text).parts, [gsm(151) + '€', gsm(10)]);
  });

  it('never splits a surrogate pair across a part boundary', () => {
    const text = ucs(66) + '😀' + ucs(10);
    assert.deepEqual(countSegments(text), { segments: 2, encoding: 'UCS-2', units: 78 });
    const { parts } = splitSegments(text);
    assert.equal(parts[0], ucs(66));
    assert.equal(parts[1], '😀' + ucs(10));
    // 134 code units would be 2 parts by ceil; the pair at 67/68 forces a third.
    const tight = ucs(66) + '😀' + ucs(66);
    assert.equal(countSegments(tight).units, 134);
    assert.equal(countSegments(tight).segments, 3);
  });

  it('a surrogate pair counts 2 units even in a single part', () => {
    assert.deepEqual(countSegments('😀'.repeat(35)), { segments: 1, encoding: 'UCS-2', units: 70 });
    assert.deepEqual(countSegments('😀'.repeat(36)).segments, 2);
  });
});

describe('renderMessage', () => {
  it('puts the signature first and fills the params', () => {
    assert.equal(
      renderMessage('阿里云', '您的验证码是${code}，${minutes}分钟内有效。', {
        code: '123456',
        minutes: '5',
      }),
      '【阿里云】您的验证码是123456，5分钟内有效。',
    );
  });

  it('fills a placeholder used twice, and takes params literally', () => {
    assert.equal(renderMessage('S', '${a}-${a}', { a: '$&${b}' }), '【S】$&${b}-$&${b}');
  });

  it('the signature counts toward the segments', () => {
    const text = renderMessage('签名', ucs(67));
    assert.equal(countSegments(ucs(67)).segments, 1);
    assert.equal(countSegments(text).segments, 2);
  });

  it('refuses params that do not match the placeholders', () => {
    assert.throws(
      () => renderMessage('S', 'code ${code}', { cod: '1' }),
      (e: unknown) =>
        e instanceof DomainError &&
        e.code === 'PARAMS_MISMATCH' &&
        JSON.stringify(e.details) === JSON.stringify({ missing: ['code'], extra: ['cod'] }),
    );
  });
});
