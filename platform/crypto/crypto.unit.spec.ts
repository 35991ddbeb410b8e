import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { keyedHash, open, randomDigits, seal } from './index.ts';

const key = randomBytes(32);

test('seal/open round-trips and binds the aad', () => {
  const sealed = seal(key, '【Acme】Your code is 123456', 'msg-1');
  assert.ok(!sealed.includes('123456'));
  assert.equal(open(key, sealed, 'msg-1'), '【Acme】Your code is 123456');
  assert.throws(() => open(key, sealed, 'msg-2'));
  assert.throws(() => open(randomBytes(32), sealed, 'msg-1'));
  const [v, iv, tag, body] = sealed.split('.');
  const flipped = Buffer.from(body!, 'base64url');
  flipped[0] = flipped[0]! ^ 1;
  assert.throws(() => open(key, [v, iv, tag, flipped.toString('base64url')].join('.'), 'msg-1'));
});

test('keyed hash depends on the key', () => {
  assert.equal(keyedHash(key, '1234'), keyedHash(key, '1234'));
  assert.notEqual(keyedHash(key, '1234'), keyedHash(randomBytes(32), '1234'));
  assert.match(keyedHash(key, 'x'), /^[0-9a-f]{64}$/);
});

test('random digits have the asked length and vary', () => {
  const codes = new Set(Array.from({ length: 50 }, () => randomDigits(6)));
  for (const code of codes) assert.match(code, /^\d{6}$/);
  assert.ok(codes.size > 40);
});
