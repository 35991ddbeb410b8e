import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALIYUN_PUSH_ACK,
  normalizeSupplierMessageId,
  parseAliyunInbound,
  parseAliyunReceipts,
  parseTencentInbound,
  parseTencentReceipts,
  ReceiptParseError,
  TENCENT_PUSH_ACK,
} from './pushes.ts';

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ReceiptParseError);
    return err.issues;
  }
  assert.fail('expected a ReceiptParseError');
}

describe('parseAliyunReceipts (SmsReport)', () => {
  // Example from https://help.aliyun.com/document_detail/101867.html
  const doc = [
    {
      phone_number: '13811111111',
      send_time: '2017-01-01 00:00:00',
      report_time: '2017-01-01 00:00:05',
      success: true,
      err_code: 'DELIVERED',
      err_msg: '用户接收成功',
      sms_size: '1',
      biz_id: '900619746936498440^0',
      out_id: 'msg-1',
    },
  ];

  it('parses the documented example, times in UTC+8', () => {
    const [r] = parseAliyunReceipts(doc);
    assert.deepEqual(r, {
      vendor: 'aliyun',
      supplierMessageId: '900619746936498440^0',
      messageId: 'msg-1',
      delivered: true,
      errorCode: 'DELIVERED',
      errorMessage: '用户接收成功',
      reportedAt: new Date('2016-12-31T16:00:05Z'),
      sentAt: new Date('2016-12-31T16:00:00Z'),
      mobile: '+8613811111111',
      segments: 1,
    });
  });

  it('accepts the raw JSON text and failures', () => {
    const body = JSON.stringify([{ ...doc[0], success: false, err_code: 'MK:0001', out_id: '' }]);
    const [r] = parseAliyunReceipts(body);
    assert.equal(r?.delivered, false);
    assert.equal(r?.errorCode, 'MK:0001');
    assert.equal(r?.messageId, undefined);
  });

  it('lists every malformed field', () => {
    const issues = issuesOf(() =>
      parseAliyunReceipts([
        { phone_number: '', report_time: 'yesterday', success: 'maybe', sms_size: 'x' },
        7,
      ]),
    );
    assert.deepEqual(issues, [
      '[0].phone_number: expected a non-empty string',
      '[0].report_time: expected "yyyy-MM-dd HH:mm:ss"',
      '[0].success: expected a boolean',
      '[0].biz_id: expected a non-empty string',
      '[0].sms_size: expected a whole number',
      '[1]: expected an object',
      '[1].phone_number: expected a non-empty string',
      '[1].report_time: expected a non-empty string',
      '[1].success: expected a boolean',
      '[1].biz_id: expected a non-empty string',
    ]);
  });

  it('rejects a body that is not a JSON array', () => {
    assert.deepEqual(
      issuesOf(() => parseAliyunReceipts('{')),
      ['body is not valid JSON'],
    );
    assert.deepEqual(
      issuesOf(() => parseAliyunReceipts(doc[0])),
      ['expected a JSON array'],
    );
  });
});

describe('parseAliyunInbound (SmsUp)', () => {
  it('parses the documented example (sequence_id number or string, sign_name optional)', () => {
    const out = parseAliyunInbound([
      {
        phone_number: '13811111111',
        send_time: '2017-09-01 00:00:00',
        content: 'TD',
        sign_name: '签名',
        dest_code: '1234',
        sequence_id: 1234567890,
      },
      {
        phone_number: '13811111112',
        content: '内容',
        send_time: '2017-09-01 08:00:00',
        dest_code: '1234',
        sequence_id: '1234567891',
      },
    ]);
    assert.deepEqual(out[0], {
      vendor: 'aliyun',
      mobile: '+8613811111111',
      text: 'TD',
      receivedAt: new Date('2017-08-31T16:00:00Z'),
      signName: '签名',
      extendCode: '1234',
      sequenceId: '1234567890',
    });
    assert.equal(out[1]?.signName, undefined);
    assert.equal(out[1]?.sequenceId, '1234567891');
  });

  it('lists what is missing', () => {
    assert.deepEqual(
      issuesOf(() => parseAliyunInbound([{ phone_number: '138' }])),
      [
        '[0].send_time: expected a non-empty string',
        '[0].content: expected a non-empty string',
        '[0].sequence_id: expected a non-empty string',
      ],
    );
  });
});

describe('parseTencentReceipts (status callback)', () => {
  // Example from https://www.tencentcloud.com/document/product/382/43547
  const doc = [
    {
      user_receive_time: '2015-10-17 08:03:04',
      nationcode: '86',
      mobile: '13800138000',
      report_status: 'SUCCESS',
      errmsg: 'DELIVRD',
      description: '用户短信送达成功',
      sid: '2433:1045710669157053657849499619',
    },
  ];

  it('parses the documented example', () => {
    assert.deepEqual(parseTencentReceipts(doc), [
      {
        vendor: 'tencent',
        supplierMessageId: '2433:1045710669157053657849499619',
        delivered: true,
        errorCode: 'DELIVRD',
        errorMessage: '用户短信送达成功',
        reportedAt: new Date('2015-10-17T00:03:04Z'),
        mobile: '+8613800138000',
      },
    ]);
  });

  it('reads FAIL as not delivered', () => {
    const [r] = parseTencentReceipts([{ ...doc[0], report_status: 'FAIL', errmsg: 'MK:0001' }]);
    assert.equal(r?.delivered, false);
    assert.equal(r?.errorCode, 'MK:0001');
  });

  it('lists malformed fields', () => {
    assert.deepEqual(
      issuesOf(() => parseTencentReceipts([{ ...doc[0], report_status: 'MAYBE', sid: '' }])),
      ['[0].report_status: expected SUCCESS or FAIL', '[0].sid: expected a non-empty string'],
    );
  });
});

describe('parseTencentInbound (reply callback)', () => {
  // Example from https://www.tencentcloud.com/document/product/382/43548 (one object per push)
  const doc = {
    extend: '',
    mobile: '13800138000',
    nationcode: '86',
    sign: '腾讯云',
    text: 'TD',
    time: 1457336869,
  };

  it('parses the documented single object, and arrays of them', () => {
    const expected = {
      vendor: 'tencent',
      mobile: '+8613800138000',
      text: 'TD',
      receivedAt: new Date(1457336869 * 1000),
      signName: '腾讯云',
    };
    assert.deepEqual(parseTencentInbound(doc), [expected]);
    assert.deepEqual(parseTencentInbound(JSON.stringify([doc, { ...doc, extend: '12' }])), [
      expected,
      { ...expected, extendCode: '12' },
    ]);
  });

  it('lists malformed fields', () => {
    assert.deepEqual(
      issuesOf(() => parseTencentInbound({ mobile: '1', nationcode: '86', text: '', time: 'now' })),
      ['[0].text: expected a non-empty string', '[0].time: expected a UNIX timestamp in seconds'],
    );
    assert.deepEqual(
      issuesOf(() => parseTencentInbound('"x"')),
      ['expected a JSON object or array'],
    );
  });
});

describe('supplier message ids and acknowledgements', () => {
  it('normalizes ids: trim, lower-case, no leading zeros', () => {
    assert.equal(normalizeSupplierMessageId('  00ABC^0 '), 'abc^0');
    assert.equal(normalizeSupplierMessageId('900619746936498440^0'), '900619746936498440^0');
    assert.equal(normalizeSupplierMessageId('000'), '0');
    assert.equal(normalizeSupplierMessageId('   '), '');
  });
  it('answers the vendors expect', () => {
    assert.equal(JSON.stringify(ALIYUN_PUSH_ACK), '{"code":0,"msg":"接收成功"}');
    assert.equal(JSON.stringify(TENCENT_PUSH_ACK), '{"result":0,"errmsg":"OK"}');
  });
});
