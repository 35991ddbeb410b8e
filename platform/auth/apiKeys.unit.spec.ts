// API keys are hashed under their own key, apart from the code hash key; keys
// hashed before that still verify.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { keyedHash } from '../crypto/index.ts';
import { apiKeyMatches, generateApiKey } from './apiKeys.ts';

const config = {
  codes: {
    hashKey: randomBytes(32),
    encryptionKey: randomBytes(32),
    apiKeyHashKey: randomBytes(32),
  },
};

describe('API key hashes', () => {
  it('are HMACs under the API-key hash key, not the code hash key', () => {
    const { key, keyHash } = generateApiKey(config);
    assert.ok(keyHash.startsWith('hmac-sha256/apikey:'));
    assert.equal(
      keyHash.slice('hmac-sha256/apikey:'.length),
      keyedHash(config.codes.apiKeyHashKey, `apikey:${key}`),
    );
    assert.equal(apiKeyMatches(config, key, keyHash), true);
    assert.equal(apiKeyMatches(config, `${key}x`, keyHash), false);
    const otherKey = { codes: { ...config.codes, apiKeyHashKey: randomBytes(32) } };
    assert.equal(apiKeyMatches(otherKey, key, keyHash), false);
  });

  it('a key stored before the separation still verifies under the code hash key', () => {
    const { key } = generateApiKey(config);
    const legacy = `hmac-sha256:${keyedHash(config.codes.hashKey, `apikey:${key}`)}`;
    assert.equal(apiKeyMatches(config, key, legacy), true);
    assert.equal(apiKeyMatches(config, 'sk_other', legacy), false);
  });
});
