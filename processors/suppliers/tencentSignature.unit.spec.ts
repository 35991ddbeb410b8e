import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256Hex, tc3Date, tc3Sign } from './tencentSignature.ts';

// Worked example of Tencent Cloud's "Signature v3" document (TC3-HMAC-SHA256):
// https://www.tencentcloud.com/document/product/382/40467
// (DescribeInstances on cvm.tencentcloudapi.com at 1551113065; the doc masks the
// key pair with asterisks and computes the published signature with those literal strings).
const payload =
  '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}';
const input = {
  secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******',
  secretKey: 'Gu5t9xGARNpq86cd98joQYCN3*******',
  service: 'cvm',
  method: 'POST',
  canonicalUri: '/',
  canonicalQueryString: '',
  headers: { 'Content-Type': 'application/json; charset=utf-8', Host: 'cvm.tencentcloudapi.com' },
  payload,
  timestamp: 1551113065,
};

describe('tencent TC3-HMAC-SHA256 signature', () => {
  const result = tc3Sign(input);

  it('hashes the documented payload', () => {
    assert.equal(
      sha256Hex(payload),
      '35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064',
    );
  });

  it('builds the documented canonical request', () => {
    assert.equal(
      result.canonicalRequest,
      'POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064',
    );
  });

  it('builds the documented string to sign', () => {
    assert.equal(
      result.stringToSign,
      'TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031',
    );
  });

  it('yields the documented signature and Authorization header', () => {
    assert.equal(
      result.signature,
      '2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c',
    );
    assert.equal(
      result.authorization,
      'TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c',
    );
  });

  it('uses the UTC date of the timestamp', () => {
    assert.equal(tc3Date(1551113065), '2019-02-25');
    assert.equal(tc3Date(1551139199), '2019-02-25');
    assert.equal(tc3Date(1551139200), '2019-02-26');
  });
});
