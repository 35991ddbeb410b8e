import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  apiKeyDecider,
  isApiKeyActive,
  userDecider,
  usernameDecider,
  validateRegistration,
  type ApiKeyEvent,
} from './index.ts';

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DomainError);
    assert.equal(e.code, 'VALIDATION_FAILED');
    return e.details?.field;
  }
  assert.fail('expected VALIDATION_FAILED');
}

describe('validateRegistration', () => {
  it('normalises username, email and phone', () => {
    assert.deepEqual(
      validateRegistration({
        username: ' Alice.W ',
        password: 'correct horse',
        email: ' alice@example.com ',
        phone: '138 0013 8000',
      }),
      { username: 'alice.w', email: 'alice@example.com', phone: '+8613800138000' },
    );
    assert.deepEqual(validateRegistration({ username: 'bob', password: '0123456789' }), {
      username: 'bob',
    });
  });

  it('names the bad field', () => {
    const base = { username: 'alice', password: 'long enough pw' };
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, username: 'al' })),
      'username',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, username: 'a'.repeat(33) })),
      'username',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, username: 'ali ce' })),
      'username',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, username: 'alice!' })),
      'username',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, password: '123456789' })),
      'password',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, password: 'x'.repeat(257) })),
      'password',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, email: 'alice' })),
      'email',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, email: 'a@b' })),
      'email',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, email: 'a b@c.com' })),
      'email',
    );
    assert.equal(
      fieldOf(() => validateRegistration({ ...base, phone: '12345' })),
      'phone',
    );
  });

  it('accepts the edge lengths', () => {
    assert.doesNotThrow(() => validateRegistration({ username: 'abc', password: 'x'.repeat(10) }));
    assert.doesNotThrow(() =>
      validateRegistration({ username: 'a'.repeat(32), password: 'x'.repeat(256) }),
    );
  });
});

describe('User decider', () => {
  const register = {
    userId: 'u1',
    username: 'alice',
    passwordHash: 'scrypt$abc',
    role: 'member' as const,
    email: 'alice@example.com',
  };

  it('registers a user, leaving out absent optional fields', () => {
    given(userDecider)
      .when({ type: 'RegisterUser', data: { ...register, phone: undefined } })
      .then([{ type: 'user.registered.v1', data: register }]);
  });

  it('rejects a bad username, role or empty hash, and a second registration', () => {
    given(userDecider)
      .when({ type: 'RegisterUser', data: { ...register, username: 'Alice' } })
      .thenThrows('VALIDATION_FAILED', { field: 'username' });
    given(userDecider)
      .when({ type: 'RegisterUser', data: { ...register, role: 'root' as 'admin' } })
      .thenThrows('VALIDATION_FAILED', { field: 'role' });
    given(userDecider)
      .when({ type: 'RegisterUser', data: { ...register, passwordHash: '' } })
      .thenThrows('VALIDATION_FAILED', { field: 'passwordHash' });
    given(userDecider, [{ type: 'user.registered.v1', data: register }])
      .when({ type: 'RegisterUser', data: register })
      .thenThrows('VERSION_CONFLICT');
  });

  it('state holds the user', () => {
    const state = aggregate(userDecider, [{ type: 'user.registered.v1', data: register }]);
    assert.deepEqual(state, {
      exists: true,
      ...register,
      phone: undefined,
      tokenVersion: 0,
      disabled: false,
      endedSessions: {},
    });
  });
});

describe('Username reservation decider', () => {
  const reserved = {
    type: 'username.reserved.v1' as const,
    data: { username: 'alice', userId: 'u1' },
  };

  it('reserves a free username', () => {
    given(usernameDecider)
      .when({ type: 'ReserveUsername', data: { username: 'alice', userId: 'u1' } })
      .then([reserved]);
  });

  it('is USERNAME_TAKEN for another user, a no-op for the same one', () => {
    given(usernameDecider, [reserved])
      .when({ type: 'ReserveUsername', data: { username: 'alice', userId: 'u2' } })
      .thenThrows('USERNAME_TAKEN', { field: 'username' });
    given(usernameDecider, [reserved])
      .when({ type: 'ReserveUsername', data: { username: 'alice', userId: 'u1' } })
      .thenNothing();
  });

  it('rejects a malformed username', () => {
    given(usernameDecider)
      .when({ type: 'ReserveUsername', data: { username: 'a', userId: 'u1' } })
      .thenThrows('VALIDATION_FAILED', { field: 'username' });
  });
});

describe('ApiKey decider', () => {
  const created: ApiKeyEvent = {
    type: 'apikey.created.v1',
    data: { keyId: 'k1', userId: 'u1', name: 'ci', keyHash: 'sha256:abc' },
  };
  const revoked: ApiKeyEvent = { type: 'apikey.revoked.v1', data: { keyId: 'k1', userId: 'u1' } };

  it('creates a key', () => {
    given(apiKeyDecider)
      .when({
        type: 'CreateApiKey',
        data: { keyId: 'k1', userId: 'u1', name: ' ci ', keyHash: 'sha256:abc' },
      })
      .then([created]);
  });

  it('refuses to create twice or without a hash', () => {
    given(apiKeyDecider, [created])
      .when({
        type: 'CreateApiKey',
        data: created.data as { keyId: string; userId: string; name: string; keyHash: string },
      })
      .thenThrows('VERSION_CONFLICT');
    given(apiKeyDecider)
      .when({ type: 'CreateApiKey', data: { keyId: 'k1', userId: 'u1', name: 'ci', keyHash: '' } })
      .thenThrows('VALIDATION_FAILED', { field: 'keyHash' });
  });

  it('lets the owner or an admin revoke, naming the owner', () => {
    given(apiKeyDecider, [created])
      .when({ type: 'RevokeApiKey', data: { userId: 'u1', isAdmin: false } })
      .then([revoked]);
    given(apiKeyDecider, [created])
      .when({ type: 'RevokeApiKey', data: { userId: 'admin', isAdmin: true } })
      .then([revoked]);
  });

  it('is NOT_FOUND when absent or owned by someone else', () => {
    given(apiKeyDecider)
      .when({ type: 'RevokeApiKey', data: { userId: 'u1', isAdmin: true } })
      .thenThrows('NOT_FOUND');
    given(apiKeyDecider, [created])
      .when({ type: 'RevokeApiKey', data: { userId: 'u2', isAdmin: false } })
      .thenThrows('NOT_FOUND');
  });

  it('revoking twice is a no-op, and revoked keys are inactive', () => {
    given(apiKeyDecider, [created, revoked])
      .when({ type: 'RevokeApiKey', data: { userId: 'u1', isAdmin: false } })
      .thenNothing();
    assert.equal(isApiKeyActive(aggregate(apiKeyDecider, [created])), true);
    assert.equal(isApiKeyActive(aggregate(apiKeyDecider, [created, revoked])), false);
    assert.equal(isApiKeyActive(apiKeyDecider.initialState()), false);
  });
});

describe('userDecider: tokens that can be ended', () => {
  const registered = {
    type: 'user.registered.v1' as const,
    data: { userId: 'u1', username: 'alice', passwordHash: 'h1', role: 'member' as const },
  };

  it('a password change and a disable raise the token version; an enable and a re-hash do not', () => {
    const events = [
      registered,
      { type: 'user.password-rehashed.v1' as const, data: { userId: 'u1', passwordHash: 'h2' } },
      { type: 'user.password-changed.v1' as const, data: { userId: 'u1', passwordHash: 'h3' } },
      { type: 'user.disabled.v1' as const, data: { userId: 'u1' } },
      { type: 'user.enabled.v1' as const, data: { userId: 'u1' } },
    ];
    const state = aggregate(userDecider, events);
    assert.ok(state.exists);
    assert.equal(state.tokenVersion, 2);
    assert.equal(state.disabled, false);
    assert.equal(state.passwordHash, 'h3');
  });

  it('re-hashes only while the hash is the one that was checked', () => {
    given(userDecider, [registered])
      .when({ type: 'RehashPassword', data: { passwordHash: 'h2', previousHash: 'h1' } })
      .then([{ type: 'user.password-rehashed.v1', data: { userId: 'u1', passwordHash: 'h2' } }]);
    given(userDecider, [registered])
      .when({ type: 'RehashPassword', data: { passwordHash: 'h2', previousHash: 'other' } })
      .thenNothing();
  });

  it('disable and enable are idempotent; ending a session twice records it once', () => {
    const disabled = { type: 'user.disabled.v1' as const, data: { userId: 'u1' } };
    given(userDecider, [registered, disabled])
      .when({ type: 'DisableUser', data: {} })
      .thenNothing();
    given(userDecider, [registered]).when({ type: 'EnableUser', data: {} }).thenNothing();
    const ended = {
      type: 'user.session-ended.v1' as const,
      data: { userId: 'u1', tokenId: 't1', expiresAt: '2030-01-01T00:00:00.000Z' },
    };
    given(userDecider, [registered])
      .when({ type: 'EndSession', data: { tokenId: 't1', expiresAt: '2030-01-01T00:00:00.000Z' } })
      .then([ended]);
    given(userDecider, [registered, ended])
      .when({ type: 'EndSession', data: { tokenId: 't1', expiresAt: '2030-01-01T00:00:00.000Z' } })
      .thenNothing();
  });

  it('refuses commands for a user that does not exist', () => {
    given(userDecider, []).when({ type: 'DisableUser', data: {} }).thenThrows('USER_NOT_FOUND');
  });
});
