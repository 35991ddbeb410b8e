import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  approvedBindings,
  matchVendorTemplate,
  templateDecider as decider,
  toVendorTemplate,
  vendorParamProblem,
  type ExistingTemplate,
  type TemplateCreated,
  type TemplateEvent,
} from './index.ts';

const created: TemplateCreated = {
  type: 'template.created.v1',
  data: {
    templateId: 't1',
    templateCode: 'T1',
    tenantId: 'acme',
    name: 'Shipped',
    kind: 'notification',
    signature: 'Acme',
    content: 'Hi ${name}, order ${order} shipped.',
    suppliers: ['ali', 'ten'],
    policy: {},
  },
};
const submitted: TemplateEvent = {
  type: 'template.review-submitted.v1',
  data: {
    templateCode: 'T1',
    account: 'ten',
    vendorTemplateId: '1001',
    revision: 0,
    params: ['name', 'order'],
  },
};
const approved: TemplateEvent = {
  type: 'template.reviewed.v1',
  data: {
    templateCode: 'T1',
    account: 'ten',
    vendorTemplateId: '1001',
    revision: 0,
    status: 'approved',
  },
};

describe('template review', () => {
  it('records a submission once, for the current revision only', () => {
    given(decider, [created])
      .when({
        type: 'RecordTemplateSubmission',
        data: { account: 'ten', vendorTemplateId: '1001', revision: 0, params: ['name', 'order'] },
      })
      .then([submitted]);
    given(decider, [created, submitted])
      .when({
        type: 'RecordTemplateSubmission',
        data: { account: 'ten', vendorTemplateId: '1002', revision: 0, params: [] },
      })
      .thenNothing();
    given(decider, [created])
      .when({
        type: 'RecordTemplateSubmission',
        data: { account: 'ten', vendorTemplateId: '1001', revision: 1, params: [] },
      })
      .thenNothing();
  });

  it('approves a binding and routes to it with the vendor parameter order', () => {
    given(decider, [created, submitted])
      .when({
        type: 'RecordTemplateReview',
        data: { account: 'ten', vendorTemplateId: '1001', revision: 0, status: 'approved' },
      })
      .then([approved]);
    const state = aggregate(decider, [created, submitted, approved]) as ExistingTemplate;
    assert.deepEqual(approvedBindings(state), [
      { account: 'ten', vendorTemplateId: '1001', params: ['name', 'order'] },
    ]);
  });

  it('a change of content or signature starts a new revision without approvals', () => {
    const updated: TemplateEvent = {
      type: 'template.updated.v1',
      data: { templateCode: 'T1', signature: 'Acme Shop' },
    };
    given(decider, [created, submitted, approved])
      .when({ type: 'UpdateTemplate', data: { signature: ' Acme Shop ' } })
      .then([updated]);
    const state = aggregate(decider, [created, submitted, approved, updated]) as ExistingTemplate;
    assert.equal(state.revision, 1);
    assert.deepEqual(approvedBindings(state), []);
    // a late review of the old revision changes nothing
    given(decider, [created, submitted, updated])
      .when({
        type: 'RecordTemplateReview',
        data: { account: 'ten', vendorTemplateId: '1001', revision: 0, status: 'approved' },
      })
      .thenNothing();
  });

  it('binds only accounts of the template, and keeps the rejection reason', () => {
    given(decider, [created])
      .when({
        type: 'RequestTemplateBinding',
        data: { tenantId: 'acme', account: 'other', vendorTemplateId: 'SMS_1' },
      })
      .thenThrows('UNKNOWN_SUPPLIER');
    given(decider, [created])
      .when({
        type: 'RequestTemplateBinding',
        data: { tenantId: 'intruder', account: 'ali', vendorTemplateId: 'SMS_1' },
      })
      .thenThrows('TEMPLATE_NOT_FOUND');
    const requested: TemplateEvent = {
      type: 'template.binding-requested.v1',
      data: { templateCode: 'T1', account: 'ali', vendorTemplateId: 'SMS_1', revision: 0 },
    };
    given(decider, [created])
      .when({
        type: 'RequestTemplateBinding',
        data: { tenantId: 'acme', account: 'ali', vendorTemplateId: 'SMS_1' },
      })
      .then([requested]);
    const rejected: TemplateEvent = {
      type: 'template.reviewed.v1',
      data: {
        templateCode: 'T1',
        account: 'ali',
        vendorTemplateId: 'SMS_1',
        revision: 0,
        status: 'rejected',
        reason: 'text differs',
      },
    };
    const state = aggregate(decider, [created, requested, rejected]) as ExistingTemplate;
    assert.deepEqual(state.bindings.ali, {
      vendorTemplateId: 'SMS_1',
      status: 'rejected',
      reason: 'text differs',
      params: [],
      source: 'bound',
    });
  });
});

describe('vendor templates', () => {
  it('writes Tencent variables as numbers in order of first use', () => {
    assert.deepEqual(toVendorTemplate('tencent', 'Hi ${b}, ${a} and ${b}.'), {
      content: 'Hi {1}, {2} and {1}.',
      params: ['b', 'a'],
    });
    assert.deepEqual(toVendorTemplate('aliyun', 'Hi ${b}, ${a}.'), {
      content: 'Hi ${b}, ${a}.',
      params: ['b', 'a'],
    });
  });

  it('matches a vendor template and takes its parameter order', () => {
    assert.deepEqual(
      matchVendorTemplate('tencent', 'Code ${code} for ${app}.', 'Code {2} for {1}.'),
      { ok: true, params: ['app', 'code'] },
    );
    assert.equal(matchVendorTemplate('tencent', 'Code ${code}.', 'Kode {1}.').ok, false);
    assert.equal(matchVendorTemplate('tencent', 'A ${a} ${b}.', 'A {1} {1}.').ok, false);
    assert.equal(matchVendorTemplate('tencent', 'A ${a}.', 'A {2}.').ok, false);
    assert.deepEqual(matchVendorTemplate('aliyun', 'Hi ${name}.', 'Hi ${name}.'), {
      ok: true,
      params: ['name'],
    });
    assert.equal(matchVendorTemplate('aliyun', 'Hi ${name}.', 'Hi ${nick}.').ok, false);
  });

  it('knows the vendors limits on values and names the parameter', () => {
    assert.equal(
      vendorParamProblem('aliyun', 'notification', { a: 'x'.repeat(35) }, 'code'),
      undefined,
    );
    assert.equal(
      vendorParamProblem('aliyun', 'notification', { a: 'x'.repeat(36) }, 'code')?.param,
      'a',
    );
    assert.equal(
      vendorParamProblem('tencent', 'notification', { b: '1234567890123' }, 'code')?.param,
      'b',
    );
    assert.equal(
      vendorParamProblem('tencent', 'verification', { code: '1234567' }, 'code')?.param,
      'code',
    );
    assert.equal(
      vendorParamProblem('tencent', 'verification', { code: '123456' }, 'code'),
      undefined,
    );
  });
});
