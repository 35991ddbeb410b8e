import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aliyunSignature,
  aliyunTimestamp,
  canonicalizedQueryString,
  percentEncode,
  signedQuery,
  stringToSign,
} from './aliyunSignature.ts';

// Worked example of Aliyun's RPC signature document ("签名机制" / "Signature mechanism"):
// https://help.aliyun.com/document_detail/28839.html
// https://help.aliyun.com/en/document_detail/145075.html
// (also quoted at https://developer.aliyun.com/ask/210168): DescribeRegions with
// AccessKeyId testid, AccessKeySecret testsecret (HMAC key "testsecret&").
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
const exampleStringToSign =
  'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26TimeStamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26';

describe('aliyun RPC signature (HMAC-SHA1)', () => {
  it('builds the StringToSign of the documented example', () => {
    assert.equal(stringToSign('GET', example), exampleStringToSign);
  });

  it('yields the documented signature CT9X0VtwR86fNWSnsc6v8YGOjuE=', () => {
    assert.equal(aliyunSignature('GET', example, 'testsecret'), 'CT9X0VtwR86fNWSnsc6v8YGOjuE=');
  });

  it('adds the Signature percent-encoded, as in the documented final URL', () => {
    assert.match(
      signedQuery('GET', example, 'testsecret'),
      /&Signature=CT9X0VtwR86fNWSnsc6v8YGOjuE%3D$/,
    );
  });

  it('excludes Signature itself from the canonical string and sorts by name', () => {
    assert.equal(
      canonicalizedQueryString({ b: '2', Signature: 'x', a: '1', B: '3' }),
      'B=3&a=1&b=2',
    );
  });

  it('percent-encodes as the doc specifies: space %20, * %2A, ~ kept, UTF-8 bytes', () => {
    assert.equal(percentEncode('a b*c~d'), 'a%20b%2Ac~d');
    assert.equal(percentEncode("!'()"), '%21%27%28%29');
    assert.equal(percentEncode('阿里云'), '%E9%98%BF%E9%87%8C%E4%BA%91');
    assert.equal(percentEncode('{"code":"1234"}'), '%7B%22code%22%3A%221234%22%7D');
    assert.equal(percentEncode('-_.~'), '-_.~');
  });

  it('formats Timestamp as ISO 8601 UTC without milliseconds', () => {
    assert.equal(aliyunTimestamp(new Date('2017-07-12T02:42:19.123Z')), '2017-07-12T02:42:19Z');
  });
});
