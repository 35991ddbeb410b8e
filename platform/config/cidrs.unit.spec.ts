import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowList, allows, cidrProblem } from './cidrs.ts';
import { ConfigError, loadConfig } from './index.ts';

describe('webhook source networks', () => {
  const list = allowList(['203.0.113.0/24', '198.51.100.7', '2001:db8::/32', '::1']);
  const cases: [string, boolean][] = [
    ['203.0.113.9', true],
    ['203.0.114.9', false],
    ['198.51.100.7', true],
    ['198.51.100.8', false],
    // IPv4 clients of a dual-stack server, as Node reports them
    ['::ffff:203.0.113.9', true],
    ['::ffff:203.0.114.9', false],
    ['2001:db8:1234::1', true],
    ['2001:db9::1', false],
    ['::1', true],
    ['127.0.0.1', false],
    ['not an address', false],
  ];
  for (const [address, expected] of cases) {
    it(`${address}: ${expected ? 'allowed' : 'refused'}`, () =>
      assert.equal(allows(list, address), expected));
  }
  it('refuses an undefined peer (a closed socket)', () =>
    assert.equal(allows(list, undefined), false));

  it('checks entries at start, naming the account index', () => {
    assert.equal(cidrProblem('10.0.0.0/8'), undefined);
    assert.equal(
      cidrProblem('2001:db8::/129'),
      '"2001:db8::/129" has a prefix length outside 0-128',
    );
    assert.equal(cidrProblem('10.0.0.0/33'), '"10.0.0.0/33" has a prefix length outside 0-32');
    assert.equal(cidrProblem('10.0.0/8'), '"10.0.0/8" is not an IP address or CIDR');
    const base = loadConfig({}).suppliers.map((a) => ({
      id: a.id,
      vendor: a.vendor,
      endpoint: a.endpoint,
      accessKeyId: a.accessKeyId,
      accessKeySecret: a.accessKeySecret,
      signName: a.signName,
      webhookSecret: a.webhookSecret,
      ...(a.smsSdkAppId ? { smsSdkAppId: a.smsSdkAppId } : {}),
    }));
    const ok = loadConfig({
      STREAMING_SUPPLIERS: JSON.stringify([base[0], { ...base[1], webhookSourceCidrs: ['::1'] }]),
    });
    assert.deepEqual(ok.suppliers[1]?.webhookSourceCidrs, ['::1']);
    assert.equal(ok.suppliers[0]?.webhookSourceCidrs, undefined);
    assert.throws(
      () =>
        loadConfig({
          STREAMING_SUPPLIERS: JSON.stringify([
            base[0],
            { ...base[1], webhookSourceCidrs: ['10.0.0.0/8', 'example.com'] },
          ]),
        }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message ===
          'STREAMING_SUPPLIERS must be a JSON array of supplier accounts: [1].webhookSourceCidrs: "example.com" is not an IP address or CIDR',
    );
  });
});
