import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../platform/config/index.ts';
import { authenticate } from './index.ts';

describe('webhook authentication', () => {
  const { suppliers } = loadConfig({});
  it('finds the account of the vendor whose secret the push carries', () => {
    assert.equal(authenticate(suppliers, 'aliyun', 'sim-aliyun-webhook-secret')?.id, 'sim-aliyun');
    assert.equal(
      authenticate(suppliers, 'tencent', 'sim-tencent-webhook-secret')?.id,
      'sim-tencent',
    );
  });
  it('refuses a wrong, missing or other-vendor secret', () => {
    assert.equal(authenticate(suppliers, 'aliyun', 'sim-tencent-webhook-secret'), undefined);
    assert.equal(authenticate(suppliers, 'aliyun', 'wrong'), undefined);
    assert.equal(authenticate(suppliers, 'aliyun', undefined), undefined);
    assert.equal(authenticate(suppliers, 'aliyun', ''), undefined);
  });
});
