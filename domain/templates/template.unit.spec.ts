import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  templateDecider as decider,
  type CreateTemplate,
  type TemplateCreated,
  type TemplateEvent,
} from './index.ts';

const create: CreateTemplate['data'] = {
  templateId: 't1',
  templateCode: 'LOGIN_CODE',
  tenantId: 'acme',
  name: 'Login code',
  kind: 'verification',
  signature: '阿里云',
  content: '您的验证码是${code}，${minutes}分钟内有效。',
  suppliers: ['aliyun-main', 'tencent-backup'],
};

const created: TemplateCreated = {
  type: 'template.created.v1',
  data: {
    templateId: 't1',
    templateCode: 'LOGIN_CODE',
    tenantId: 'acme',
    name: 'Login code',
    kind: 'verification',
    signature: '阿里云',
    content: '您的验证码是${code}，${minutes}分钟内有效。',
    suppliers: ['aliyun-main', 'tencent-backup'],
    policy: { mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 } },
    verification: { codeLength: 6, ttlSeconds: 300, maxAttempts: 5 },
  },
};

const notification: TemplateCreated = {
  type: 'template.created.v1',
  data: {
    templateId: 't2',
    templateCode: 'SHIPPED',
    tenantId: 'acme',
    name: 'Shipped',
    kind: 'notification',
    signature: 'Acme',
    content: 'Order ${order} shipped.',
    suppliers: [],
    policy: {},
  },
};

const disabled: TemplateEvent = {
  type: 'template.disabled.v1',
  data: { templateCode: 'LOGIN_CODE' },
};

describe('Template decider', () => {
  describe('CreateTemplate', () => {
    it('creates a verification template with default policy and settings', () => {
      given(decider).when({ type: 'CreateTemplate', data: create }).then([created]);
    });

    it('creates a notification template with no policy defaults, trimming name and signature', () => {
      given(decider)
        .when({
          type: 'CreateTemplate',
          data: {
            templateId: 't2',
            templateCode: 'SHIPPED',
            tenantId: 'acme',
            name: ' Shipped ',
            kind: 'notification',
            signature: ' Acme ',
            content: 'Order ${order} shipped.',
          },
        })
        .then([notification]);
    });

    it('refuses a second create on the same stream', () => {
      given(decider, [created])
        .when({ type: 'CreateTemplate', data: create })
        .thenThrows('TEMPLATE_ALREADY_EXISTS');
    });

    const invalid: Array<[string, Partial<CreateTemplate['data']>, string, string]> = [
      ['empty content', { content: '   ' }, 'content', 'EMPTY'],
      [
        'unbalanced ${',
        { content: 'code ${code and ${minutes}' },
        'content',
        'INVALID_PLACEHOLDER_NAME',
      ],
      ['unclosed ${', { content: 'code ${code' }, 'content', 'UNBALANCED_PLACEHOLDER'],
      ['content too long', { content: '${code}' + 'x'.repeat(1000) }, 'content', 'TOO_LONG'],
      ['empty signature', { signature: ' ' }, 'signature', 'EMPTY'],
      ['signature with 【】', { signature: '【阿里云】' }, 'signature', 'BRACKETS'],
      [
        'verification without ${code}',
        { content: 'Your PIN: ${pin}' },
        'content',
        'NO_CODE_PLACEHOLDER',
      ],
    ];
    for (const [name, patch, field, reason] of invalid) {
      it(`rejects ${name}`, () => {
        given(decider)
          .when({ type: 'CreateTemplate', data: { ...create, ...patch } })
          .thenThrows('TEMPLATE_CONTENT_INVALID', { field, reason });
      });
    }

    it('accepts content of exactly 1000 characters, counted by code point', () => {
      const content = '${code}' + '😀'.repeat(993);
      const [event] = decider.decide(
        { type: 'CreateTemplate', data: { ...create, content } },
        decider.initialState(),
      );
      assert.equal(event?.type, 'template.created.v1');
    });

    it('rejects an impossible policy naming the field', () => {
      given(decider)
        .when({
          type: 'CreateTemplate',
          data: { ...create, policy: { mobile: { maxPerHour: 20, maxPerDay: 10 } } },
        })
        .thenThrows('POLICY_INVALID', { field: 'mobile.maxPerHour' });
      given(decider)
        .when({ type: 'CreateTemplate', data: { ...create, verification: { codeLength: 12 } } })
        .thenThrows('POLICY_INVALID', { field: 'verification.codeLength' });
    });

    it('rejects an unknown kind, a blank name and duplicate suppliers', () => {
      given(decider)
        .when({ type: 'CreateTemplate', data: { ...create, kind: 'promo' as 'marketing' } })
        .thenThrows('VALIDATION_FAILED', { field: 'kind' });
      given(decider)
        .when({ type: 'CreateTemplate', data: { ...create, name: '' } })
        .thenThrows('VALIDATION_FAILED', { field: 'name' });
      given(decider)
        .when({ type: 'CreateTemplate', data: { ...create, suppliers: ['a', 'a'] } })
        .thenThrows('VALIDATION_FAILED', { field: 'suppliers' });
    });
  });

  describe('UpdateTemplate', () => {
    it('updates content with new placeholders', () => {
      given(decider, [created])
        .when({ type: 'UpdateTemplate', data: { content: '验证码${code}，${product}' } })
        .then([
          {
            type: 'template.updated.v1',
            data: { templateCode: 'LOGIN_CODE', content: '验证码${code}，${product}' },
          },
        ]);
      const state = aggregate(decider, [
        created,
        {
          type: 'template.updated.v1',
          data: { templateCode: 'LOGIN_CODE', content: '验证码${code}，${product}' },
        },
      ]);
      assert.ok(state.exists);
      assert.deepEqual(state.placeholders, ['code', 'product']);
    });

    it('re-applies defaults to a new policy and merges partial verification settings', () => {
      given(decider, [created])
        .when({
          type: 'UpdateTemplate',
          data: { policy: { tenant: { maxPerDay: 100 } }, verification: { ttlSeconds: 600 } },
        })
        .then([
          {
            type: 'template.updated.v1',
            data: {
              templateCode: 'LOGIN_CODE',
              policy: {
                tenant: { maxPerDay: 100 },
                mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 },
              },
              verification: { codeLength: 6, ttlSeconds: 600, maxAttempts: 5 },
            },
          },
        ]);
    });

    it('emits only what changed, and nothing when nothing changed', () => {
      given(decider, [created])
        .when({ type: 'UpdateTemplate', data: { content: created.data.content, suppliers: ['x'] } })
        .then([
          { type: 'template.updated.v1', data: { templateCode: 'LOGIN_CODE', suppliers: ['x'] } },
        ]);
      given(decider, [created])
        .when({ type: 'UpdateTemplate', data: { suppliers: ['aliyun-main', 'tencent-backup'] } })
        .thenNothing();
    });

    it('validates new content again', () => {
      given(decider, [created])
        .when({ type: 'UpdateTemplate', data: { content: 'no code here' } })
        .thenThrows('TEMPLATE_CONTENT_INVALID', { reason: 'NO_CODE_PLACEHOLDER' });
      given(decider, [notification])
        .when({ type: 'UpdateTemplate', data: { content: 'Order ${order' } })
        .thenThrows('TEMPLATE_CONTENT_INVALID', { reason: 'UNBALANCED_PLACEHOLDER' });
    });

    it('rejects verification settings on a notification template', () => {
      given(decider, [notification])
        .when({ type: 'UpdateTemplate', data: { verification: { codeLength: 6 } } })
        .thenThrows('POLICY_INVALID', { field: 'verification' });
    });

    it('may edit a disabled template', () => {
      given(decider, [created, disabled])
        .when({ type: 'UpdateTemplate', data: { suppliers: ['b'] } })
        .then([
          { type: 'template.updated.v1', data: { templateCode: 'LOGIN_CODE', suppliers: ['b'] } },
        ]);
    });

    it('is TEMPLATE_NOT_FOUND before creation or for another tenant', () => {
      given(decider)
        .when({ type: 'UpdateTemplate', data: { suppliers: [] } })
        .thenThrows('TEMPLATE_NOT_FOUND');
      given(decider, [created])
        .when({ type: 'UpdateTemplate', data: { tenantId: 'other', suppliers: [] } })
        .thenThrows('TEMPLATE_NOT_FOUND');
    });
  });

  describe('DisableTemplate / EnableTemplate', () => {
    it('disables an enabled template and enables a disabled one', () => {
      given(decider, [created]).when({ type: 'DisableTemplate' }).then([disabled]);
      given(decider, [created, disabled])
        .when({ type: 'EnableTemplate', data: { tenantId: 'acme' } })
        .then([{ type: 'template.enabled.v1', data: { templateCode: 'LOGIN_CODE' } }]);
    });

    it('refuses to disable twice or enable an enabled template', () => {
      given(decider, [created, disabled])
        .when({ type: 'DisableTemplate' })
        .thenThrows('TEMPLATE_ALREADY_DISABLED');
      given(decider, [created])
        .when({ type: 'EnableTemplate' })
        .thenThrows('TEMPLATE_ALREADY_ENABLED');
      given(decider, [
        created,
        disabled,
        { type: 'template.enabled.v1', data: { templateCode: 'LOGIN_CODE' } },
      ])
        .when({ type: 'EnableTemplate' })
        .thenThrows('TEMPLATE_ALREADY_ENABLED');
    });

    it('is TEMPLATE_NOT_FOUND before creation or for another tenant', () => {
      given(decider).when({ type: 'DisableTemplate' }).thenThrows('TEMPLATE_NOT_FOUND');
      given(decider).when({ type: 'EnableTemplate' }).thenThrows('TEMPLATE_NOT_FOUND');
      given(decider, [created])
        .when({ type: 'DisableTemplate', data: { tenantId: 'other' } })
        .thenThrows('TEMPLATE_NOT_FOUND');
    });
  });

  it('state exposes what senders need', () => {
    const state = aggregate(decider, [created, disabled]);
    assert.deepEqual(state, {
      exists: true,
      templateId: 't1',
      templateCode: 'LOGIN_CODE',
      tenantId: 'acme',
      name: 'Login code',
      kind: 'verification',
      enabled: false,
      signature: '阿里云',
      content: '您的验证码是${code}，${minutes}分钟内有效。',
      placeholders: ['code', 'minutes'],
      suppliers: ['aliyun-main', 'tencent-backup'],
      policy: { mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 } },
      verification: { codeLength: 6, ttlSeconds: 300, maxAttempts: 5 },
      extendCode: undefined,
      quietHours: undefined,
      revision: 0,
      bindings: {},
    });
  });

  describe('extension code', () => {
    const withCode: TemplateCreated = {
      ...notification,
      data: { ...notification.data, extendCode: '12' },
    };

    it('is kept from create on and shows in the state', () => {
      given(decider)
        .when({
          type: 'CreateTemplate',
          data: { ...notification.data, suppliers: [], extendCode: '12' },
        })
        .then([withCode]);
      const state = aggregate(decider, [withCode]);
      assert.ok(state.exists);
      assert.equal(state.extendCode, '12');
    });

    it('rejects anything but 1 to 6 digits, naming the field', () => {
      for (const bad of ['', '1234567', '12a', ' 12', '１２', '-1']) {
        given(decider)
          .when({ type: 'CreateTemplate', data: { ...create, extendCode: bad } })
          .thenThrows('VALIDATION_FAILED', { field: 'extendCode' });
        given(decider, [withCode])
          .when({ type: 'UpdateTemplate', data: { extendCode: bad } })
          .thenThrows('VALIDATION_FAILED', { field: 'extendCode' });
      }
    });

    it('is changed and removed by updates; the same code again changes nothing', () => {
      const changed: TemplateEvent = {
        type: 'template.updated.v1',
        data: { templateCode: 'SHIPPED', extendCode: '345' },
      };
      const removed: TemplateEvent = {
        type: 'template.updated.v1',
        data: { templateCode: 'SHIPPED', extendCode: null },
      };
      given(decider, [withCode])
        .when({ type: 'UpdateTemplate', data: { extendCode: '345' } })
        .then([changed]);
      given(decider, [withCode])
        .when({ type: 'UpdateTemplate', data: { extendCode: null } })
        .then([removed]);
      given(decider, [withCode])
        .when({ type: 'UpdateTemplate', data: { extendCode: '12' } })
        .thenNothing();
      given(decider, [notification])
        .when({ type: 'UpdateTemplate', data: { extendCode: null } })
        .thenNothing();
      const later = aggregate(decider, [withCode, changed]);
      assert.ok(later.exists);
      assert.equal(later.extendCode, '345');
      const gone = aggregate(decider, [withCode, changed, removed]);
      assert.ok(gone.exists);
      assert.equal(gone.extendCode, undefined);
      // an update without the field keeps it
      const kept = aggregate(decider, [
        withCode,
        {
          type: 'template.updated.v1',
          data: { templateCode: 'SHIPPED', content: 'Sent ${order}.' },
        },
      ]);
      assert.ok(kept.exists);
      assert.equal(kept.extendCode, '12');
    });
  });
});
