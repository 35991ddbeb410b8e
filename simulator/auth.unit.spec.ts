import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aliyunSignatureMatches, expectedAliyunSignature, rfc3986 } from './aliyunAuth.ts';
import { signedHost } from './tencentApi.ts';
import { expectedTc3Signature, parseAuthorization, tc3SignatureMatches } from './tencentAuth.ts';

// The simulator verifies signatures on its own code (as the vendor does); it
// must agree with the vendors' worked examples too.

// https://help.aliyun.com/document_detail/28839.html (签名机制), example with testid / testsecret.
const aliyunExample = {
  TimeStamp: '2016-02-23T12:46:24Z',
  Format: 'XML',
  AccessKeyId: 'testid',
  Action: 'DescribeRegions',
  SignatureMethod: 'HMAC-SHA1',
  SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
  Version: '2014-05-26',
  SignatureVersion: '1.0',
};

describe('simulator: Aliyun signature check', () => {
  it('computes the documented signature', () => {
    assert.equal(
      expectedAliyunSignature('GET', aliyunExample, 'testsecret'),
      'CT9X0VtwR86fNWSnsc6v8YGOjuE=',
    );
  });
  it('accepts the right signature and refuses a wrong one or another secret', () => {
    const signed = { ...aliyunExample, Signature: 'CT9X0VtwR86fNWSnsc6v8YGOjuE=' };
    assert.ok(aliyunSignatureMatches('GET', signed, 'testsecret'));
    assert.ok(!aliyunSignatureMatches('GET', signed, 'othersecret'));
    assert.ok(!aliyunSignatureMatches('POST', signed, 'testsecret'));
    assert.ok(!aliyunSignatureMatches('GET', { ...signed, Format: 'JSON' }, 'testsecret'));
  });
  it('encodes per RFC 3986', () => {
    assert.equal(rfc3986('a b*~'), 'a%20b%2A~');
    assert.equal(rfc3986('签'), '%E7%AD%BE');
  });
});

// https://www.tencentcloud.com/document/product/382/40467 ("Signature v3"), example at 1551113065.
const payload =
  '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}';
const authHeader =
  'TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c';

describe('simulator: Tencent TC3 check', () => {
  const auth = parseAuthorization(authHeader);
  it('parses the Authorization header', () => {
    assert.deepEqual(auth, {
      secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******',
      date: '2019-02-25',
      service: 'cvm',
      signedHeaders: ['content-type', 'host'],
      signature: '2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c',
    });
    assert.equal(parseAuthorization('Basic abc'), undefined);
  });
  it('computes the documented signature and refuses a tampered body', () => {
    assert.ok(auth);
    const check = {
      method: 'POST',
      path: '/',
      query: '',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        host: 'cvm.tencentcloudapi.com',
      },
      rawBody: Buffer.from(payload),
      timestamp: '1551113065',
      auth,
      secretKey: 'Gu5t9xGARNpq86cd98joQYCN3*******',
    };
    assert.equal(
      expectedTc3Signature(check),
      '2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c',
    );
    assert.ok(tc3SignatureMatches(check));
    assert.ok(!tc3SignatureMatches({ ...check, rawBody: Buffer.from(payload + ' ') }));
    assert.ok(!tc3SignatureMatches({ ...check, secretKey: 'wrong' }));
  });
});

describe('tencent signed host', () => {
  it('is the Host header without its port, as the gateway on 443 sees it', () => {
    assert.equal(signedHost('sms.tencentcloudapi.com:8090'), 'sms.tencentcloudapi.com');
    assert.equal(signedHost('sms.tencentcloudapi.com'), 'sms.tencentcloudapi.com');
    assert.equal(signedHost('[::1]:8090'), '[::1]');
    assert.equal(signedHost(undefined), undefined);
  });
});
