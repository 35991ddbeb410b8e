// Verified tokens are remembered, but expiry and the key are checked on every use.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import { AppError } from '../errors/index.ts';
import { issueToken, verifyToken } from './tokens.ts';

const config = {
  auth: {
    jwtSecret: 'a'.repeat(40),
    jwtIssuer: 'streaming',
    jwtAudience: 'streaming-api',
    jwtTtlSeconds: 600,
  },
} as Parameters<typeof verifyToken>[0];

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError);
    return err;
  }
  assert.fail('expected INVALID_TOKEN');
}

describe('verifyToken', () => {
  it('accepts a token again and again, and refuses it once it has expired', () => {
    const now = Date.UTC(2026, 0, 1);
    const { token } = issueToken(config, { userId: 'u-1', role: 'member' }, now);
    const claims = verifyToken(config, token, now);
    assert.equal(claims.userId, 'u-1');
    assert.equal(claims.role, 'member');
    assert.equal(claims.tokenVersion, 0);
    assert.match(String(claims.tokenId), /^[0-9a-f-]{36}$/);
    assert.deepEqual(verifyToken(config, token, now + 599_000), claims);
    const expired = refusal(() => verifyToken(config, token, now + 600_000));
    assert.equal(expired.code, 'INVALID_TOKEN');
    assert.match(expired.message, /expired/);
    assert.match(refusal(() => verifyToken(config, token, now + 601_000)).message, /expired/);
  });

  it('a token that verified under one secret, issuer or audience does not under another', () => {
    const now = Date.now();
    const { token } = issueToken(config, { userId: 'u-2', role: 'admin' }, now);
    assert.equal(verifyToken(config, token, now).role, 'admin');
    for (const auth of [
      { ...config.auth, jwtSecret: 'b'.repeat(40) },
      { ...config.auth, jwtIssuer: 'other' },
      { ...config.auth, jwtAudience: 'other' },
    ]) {
      assert.equal(refusal(() => verifyToken({ auth }, token, now)).code, 'INVALID_TOKEN');
    }
  });

  it('refuses a token not yet valid, a tampered one, and alg none', () => {
    const now = Date.now();
    const seconds = Math.floor(now / 1000);
    const early = jwt.sign({ role: 'member', nbf: seconds + 60 }, config.auth.jwtSecret, {
      algorithm: 'HS256',
      issuer: config.auth.jwtIssuer,
      audience: config.auth.jwtAudience,
      subject: 'u-3',
      expiresIn: 600,
    });
    assert.equal(refusal(() => verifyToken(config, early, now)).code, 'INVALID_TOKEN');
    const { token } = issueToken(config, { userId: 'u-4', role: 'member' }, now);
    verifyToken(config, token, now);
    const [header, , signature] = token.split('.');
    const payload = Buffer.from(
      JSON.stringify({ role: 'admin', sub: 'u-4', iss: 'streaming', aud: 'streaming-api' }),
    ).toString('base64url');
    assert.equal(
      refusal(() => verifyToken(config, `${header}.${payload}.${signature}`, now)).code,
      'INVALID_TOKEN',
    );
    const none = jwt.sign({ role: 'admin', sub: 'u-4' }, null, { algorithm: 'none' });
    assert.equal(refusal(() => verifyToken(config, none, now)).code, 'INVALID_TOKEN');
  });
});
