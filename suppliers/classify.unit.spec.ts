import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError, ServerError, ThrottlingError } from '@alicloud/openapi-core';
import {
  aliyunFailure,
  chinaDate,
  classifyAliyunError,
  isAliyunRecipientRejection,
} from './aliyun.ts';
import type { ExchangeFailure } from './exchange.ts';
import { isE164, toAliyunNumber, vendorNumberToE164 } from './mobile.ts';
import {
  classifyTencentNumberError,
  classifyTencentRequestError,
  isTencentRecipientRejection,
} from './tencent.ts';

describe('aliyun error classification', () => {
  for (const code of [
    'isv.MOBILE_NUMBER_ILLEGAL',
    'isv.SMS_TEMPLATE_ILLEGAL',
    'isv.SMS_SIGNATURE_ILLEGAL',
    'isv.AMOUNT_NOT_ENOUGH',
    'isv.ACCOUNT_NOT_EXISTS',
    'isv.ACCOUNT_ABNORMAL',
    'isv.BUSINESS_LIMIT_CONTROL',
    'isv.DAY_LIMIT_CONTROL',
    'SignatureDoesNotMatch',
    'InvalidAccessKeyId.NotFound',
  ]) {
    it(`${code} is a rejection`, () => assert.equal(classifyAliyunError(200, code), 'rejected'));
  }
  for (const code of [
    'Throttling.User',
    'Throttling.Api',
    'isp.SYSTEM_ERROR',
    'ServiceUnavailable',
    'SignatureNonceUsed',
  ]) {
    it(`${code} is transient`, () => assert.equal(classifyAliyunError(400, code), 'transient'));
  }
  it('classifies answers without a code by HTTP status', () => {
    assert.equal(classifyAliyunError(503, undefined), 'transient');
    assert.equal(classifyAliyunError(429, undefined), 'transient');
    assert.equal(classifyAliyunError(404, undefined), 'rejected');
    assert.equal(classifyAliyunError(500, undefined), 'unknown');
    assert.equal(classifyAliyunError(200, undefined), 'unknown');
  });
});

describe('aliyun SDK failures', () => {
  const failure = (error: unknown, more: Partial<ExchangeFailure> = {}): ExchangeFailure => ({
    ok: false,
    error,
    sent: true,
    status: undefined,
    timedOut: false,
    networkCode: undefined,
    ...more,
  });
  const errno = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

  it('our deadline: unknown once the request was written, transient before', () => {
    assert.equal(aliyunFailure(failure(undefined, { timedOut: true }), 100).kind, 'unknown');
    assert.equal(
      aliyunFailure(failure(undefined, { timedOut: true, sent: false }), 100).kind,
      'transient',
    );
  });
  it("the SDK's own timer counts as a timeout too", () => {
    const err = Object.assign(new Error('ReadTimeout(100)'), { name: 'RequestTimeoutError' });
    assert.deepEqual(aliyunFailure(failure(err), 100), {
      kind: 'unknown',
      code: 'TIMEOUT',
      message: 'no answer within 100 ms',
    });
  });
  it('vendor answers with HTTP >= 400 are classified by their Code, else by status', () => {
    const throttled = new ThrottlingError({
      statusCode: 400,
      code: 'Throttling.User',
      data: { Code: 'Throttling.User', Message: 'flow control' },
    });
    assert.deepEqual(aliyunFailure(failure(throttled), 100), {
      kind: 'transient',
      code: 'Throttling.User',
      message: 'flow control',
    });
    const auth = new ClientError({
      statusCode: 400,
      data: { Code: 'SignatureDoesNotMatch', Message: 'no' },
    });
    assert.equal(aliyunFailure(failure(auth), 100).kind, 'rejected');
    // the SDK writes a missing code as the string "undefined"
    const bare = new ClientError({ statusCode: 404, code: 'undefined', data: {} });
    assert.deepEqual(aliyunFailure(failure(bare), 100), {
      kind: 'rejected',
      code: 'HTTP_404',
      message: 'HTTP 404',
    });
    const server = new ServerError({ statusCode: 500, data: {} });
    assert.equal(aliyunFailure(failure(server), 100).kind, 'unknown');
  });
  it('socket errors: by whether the request was written; SDK text is never kept', () => {
    const leaky = 'POST http://h/?AccessKeyId=LTAI&Signature=abc failed.';
    const refused = aliyunFailure(failure(errno('ECONNREFUSED', leaky), { sent: false }), 100);
    assert.deepEqual(refused, {
      kind: 'transient',
      code: 'ECONNREFUSED',
      message: 'network error ECONNREFUSED',
    });
    assert.equal(aliyunFailure(failure(errno('ECONNRESET', leaky)), 100).kind, 'unknown');
  });
  it('an answer the SDK could not parse is classified by its status', () => {
    const bad = new SyntaxError('Unexpected token');
    assert.equal(aliyunFailure(failure(bad, { status: 503 }), 100).kind, 'transient');
    assert.equal(aliyunFailure(failure(bad, { status: 502 }), 100).kind, 'unknown');
    assert.equal(aliyunFailure(failure(bad, { status: 200 }), 100).kind, 'unknown');
    assert.equal(aliyunFailure(failure(bad, { sent: false }), 100).kind, 'transient');
  });
});

describe('tencent error classification', () => {
  it('top-level errors', () => {
    assert.equal(classifyTencentRequestError('RequestLimitExceeded'), 'transient');
    assert.equal(classifyTencentRequestError('RequestLimitExceeded.IPLimitExceeded'), 'transient');
    assert.equal(classifyTencentRequestError('InternalError'), 'transient');
    assert.equal(classifyTencentRequestError('InternalError.OtherError'), 'transient');
    assert.equal(classifyTencentRequestError('InternalError.Timeout'), 'unknown');
    assert.equal(classifyTencentRequestError('AuthFailure.SignatureFailure'), 'rejected');
    assert.equal(
      classifyTencentRequestError('FailedOperation.InsufficientBalanceInSmsPackage'),
      'rejected',
    );
  });
  it('per-number codes', () => {
    assert.equal(classifyTencentNumberError('LimitExceeded.PhoneNumberDailyLimit'), 'rejected');
    assert.equal(
      classifyTencentNumberError('InvalidParameterValue.IncorrectPhoneNumber'),
      'rejected',
    );
    assert.equal(classifyTencentNumberError('InternalError.Timeout'), 'unknown');
  });
});

describe('phone numbers and dates', () => {
  it('Aliyun wants mainland numbers national, others as country code + number', () => {
    assert.equal(toAliyunNumber('+8613800138000'), '13800138000');
    assert.equal(toAliyunNumber('+85212345678'), '85212345678');
    assert.equal(toAliyunNumber('+12025550123'), '12025550123');
  });
  it('maps vendor forms back to E.164', () => {
    assert.equal(vendorNumberToE164('13800138000'), '+8613800138000');
    assert.equal(vendorNumberToE164('008613800138000'), '+8613800138000');
    assert.equal(vendorNumberToE164('+8613800138000'), '+8613800138000');
    assert.equal(vendorNumberToE164('13800138000', '86'), '+8613800138000');
    assert.equal(vendorNumberToE164('12345678', '852'), '+85212345678');
  });
  it('recognises E.164', () => {
    assert.ok(isE164('+8613800138000'));
    assert.ok(!isE164('13800138000'));
    assert.ok(!isE164('+0123'));
  });
  it('keys SendDate by the China (UTC+8) calendar day', () => {
    assert.equal(chinaDate(new Date('2024-03-01T15:59:59Z')), '20240301');
    assert.equal(chinaDate(new Date('2024-03-01T16:00:00Z')), '20240302');
  });
});

describe('rejections about the recipient (final, no failover)', () => {
  it('Aliyun: the number and its own limits', () => {
    for (const code of [
      'isv.MOBILE_NUMBER_ILLEGAL',
      'isv.BUSINESS_LIMIT_CONTROL',
      'isv.DAY_LIMIT_CONTROL',
      'isv.MONTH_LIMIT_CONTROL',
    ])
      assert.ok(isAliyunRecipientRejection(code), code);
    for (const code of [
      'isv.AMOUNT_NOT_ENOUGH',
      'isv.SMS_TEMPLATE_ILLEGAL',
      'isv.SMS_SIGNATURE_ILLEGAL',
    ])
      assert.ok(!isAliyunRecipientRejection(code), code);
  });
  it('Tencent: the number and its own limits, not the request', () => {
    for (const code of [
      'LimitExceeded.PhoneNumberDailyLimit',
      'LimitExceeded.PhoneNumberOneHourLimit',
      'LimitExceeded.PhoneNumberThirtySecondLimit',
      'LimitExceeded.PhoneNumberSameContentDailyLimit',
      'LimitExceeded.DeliveryFrequencyLimit',
      'InvalidParameterValue.IncorrectPhoneNumber',
      'FailedOperation.PhoneNumberInBlacklist',
    ])
      assert.ok(isTencentRecipientRejection(code), code);
    for (const code of [
      'LimitExceeded.PhoneNumberCountLimit',
      'FailedOperation.InsufficientBalanceInSmsPackage',
      'FailedOperation.TemplateIncorrectOrUnapproved',
    ])
      assert.ok(!isTencentRecipientRejection(code), code);
  });
});
