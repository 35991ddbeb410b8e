// OWASP's scrypt cost by default (Node needs maxmem raised for it), the stored
// parameters honoured, and older costs flagged for a re-hash.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, needsRehash, PASSWORD_LOG_N, verifyPassword } from './passwords.ts';

describe('password hashing', () => {
  it('hashes at N = 2^17, r = 8, p = 1 by default and verifies it', async () => {
    const hash = await hashPassword('correct horse battery');
    const [scheme, n, r, p] = hash.split('$');
    assert.deepEqual([scheme, n, r, p], ['scrypt', String(2 ** 17), '8', '1']);
    assert.equal(PASSWORD_LOG_N, 17);
    assert.equal(await verifyPassword('correct horse battery', hash), true);
    assert.equal(await verifyPassword('correct horse batterY', hash), false);
    assert.equal(needsRehash(hash), false);
  });

  it('verifies a hash of another cost with its own parameters and asks for a re-hash', async () => {
    const cheap = await hashPassword('long enough pw', { logN: 10 });
    assert.equal(cheap.split('$')[1], '1024');
    assert.equal(await verifyPassword('long enough pw', cheap, { logN: 12 }), true);
    assert.equal(needsRehash(cheap, { logN: 12 }), true);
    assert.equal(needsRehash(cheap, { logN: 10 }), false);
  });

  it('answers false, after the same work, without a stored hash; refuses absurd parameters', async () => {
    assert.equal(await verifyPassword('anything at all', undefined, { logN: 10 }), false);
    const absurd = `scrypt$${2 ** 30}$8$1$${Buffer.alloc(16).toString('base64url')}$AAAA`;
    assert.equal(await verifyPassword('anything at all', absurd), false);
    assert.equal(await verifyPassword('anything at all', 'plain:text'), false);
  });
});
