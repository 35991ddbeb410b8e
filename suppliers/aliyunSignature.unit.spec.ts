import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpenApiUtil } from '@alicloud/openapi-core';

// The SDK signs our Aliyun requests; it must agree with the worked example of
// Aliyun's RPC signature document ("签名机制" / "Signature mechanism"):
// https://help.aliyun.com/document_detail/28839.html
// https://help.aliyun.com/en/document_detail/145075.html
// DescribeRegions with AccessKeyId testid, AccessKeySecret testsecret (HMAC key "testsecret&").
const example = {
  TimeStamp: '2016-02-23T12:46:24Z',
  Format: 'XML',
  AccessKeyId: 'testid',
  Action: 'DescribeRegions',
  SignatureMethod: 'HMAC-SHA1',
  SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
  Version: '2014-05-26',
  SignatureVersion: '1.0',
};

describe('aliyun RPC signature (HMAC-SHA1) of the SDK', () => {
  it('yields the documented signature CT9X0VtwR86fNWSnsc6v8YGOjuE=', () => {
    assert.equal(
      OpenApiUtil.getRPCSignature(example, 'GET', 'testsecret'),
      'CT9X0VtwR86fNWSnsc6v8YGOjuE=',
    );
  });

  it('depends on the method and the secret', () => {
    assert.notEqual(
      OpenApiUtil.getRPCSignature(example, 'POST', 'testsecret'),
      'CT9X0VtwR86fNWSnsc6v8YGOjuE=',
    );
    assert.notEqual(
      OpenApiUtil.getRPCSignature(example, 'GET', 'othersecret'),
      'CT9X0VtwR86fNWSnsc6v8YGOjuE=',
    );
  });
});
