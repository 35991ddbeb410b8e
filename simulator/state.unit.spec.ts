import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chance, seededRng } from './rng.ts';
import { chinaTime, normalizeMobile, segmentsOf, SimulatorState, splitMobile } from './state.ts';

describe('simulator helpers', () => {
  it('seeded random numbers repeat for the same seed', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const xs = Array.from({ length: 5 }, () => a());
    assert.deepEqual(
      Array.from({ length: 5 }, () => b()),
      xs,
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(Array.from({ length: 5 }, seededRng(43)), xs);
  });
  it('rates 0 and 1 are certain and draw nothing', () => {
    let draws = 0;
    const rng = () => {
      draws++;
      return 0.5;
    };
    assert.equal(chance(rng, 0), false);
    assert.equal(chance(rng, 1), true);
    assert.equal(draws, 0);
  });
  it('normalizes the number forms vendors accept', () => {
    assert.equal(normalizeMobile('13800138000'), '+8613800138000');
    assert.equal(normalizeMobile('+8613800138000'), '+8613800138000');
    assert.equal(normalizeMobile('008613800138000'), '+8613800138000');
    assert.equal(normalizeMobile('8613800138000'), '+8613800138000');
    assert.equal(normalizeMobile('85212345678'), '+85212345678');
    assert.equal(normalizeMobile('+86123'), undefined);
    assert.equal(normalizeMobile('abc'), undefined);
  });
  it('splits country codes', () => {
    assert.deepEqual(splitMobile('+8613800138000'), { nationCode: '86', national: '13800138000' });
    assert.deepEqual(splitMobile('+85212345678'), { nationCode: '852', national: '12345678' });
    assert.deepEqual(splitMobile('+12025550123'), { nationCode: '1', national: '2025550123' });
  });
  it('counts mainland segments (Aliyun: 160 characters are 3 messages)', () => {
    assert.equal(segmentsOf('a'.repeat(70)), 1);
    assert.equal(segmentsOf('短'.repeat(71)), 2);
    assert.equal(segmentsOf('x'.repeat(160)), 3);
  });
  it('formats China time', () => {
    assert.equal(chinaTime(new Date('2017-01-01T16:00:00Z')), '2017-01-02 00:00:00');
  });
  it('counts per message and per account, and resets', () => {
    const s = new SimulatorState();
    const a = s.upsertAccount({
      id: 'a',
      vendor: 'aliyun',
      accessKeyId: 'k',
      accessKeySecret: 's',
    });
    s.countReceived(a, 'm1');
    s.countReceived(a, 'm1');
    s.countAccepted(a, 'm1');
    assert.deepEqual(s.counts.get('m1'), { received: 2, accepted: 1 });
    assert.equal(a.stats.received, 2);
    const again = s.upsertAccount(
      { id: 'a', vendor: 'aliyun', accessKeyId: 'k', accessKeySecret: 's' },
      { rejectRate: 1 },
    );
    assert.equal(again.stats.accepted, 1);
    assert.equal(again.behaviour.rejectRate, 1);
    s.reset(false);
    assert.equal(s.counts.size, 0);
    assert.equal(s.accounts.get('a')?.stats.received, 0);
  });
});
