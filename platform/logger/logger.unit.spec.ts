import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  addLogContext,
  createLogger,
  logContext,
  maskMobiles,
  maskSecretsInText,
  maskValue,
  withLogContext,
} from './index.ts';

function capture(level: 'info' | 'debug' = 'info') {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const logger = createLogger({ logLevel: level }, { name: 'test', stream });
  /** Waits until `n` lines are written (the stream is asynchronous; a busy machine is slower). */
  const written = async (n: number) => {
    for (let i = 0; i < 500 && lines.length < n; i++) await sleep(10);
    return lines;
  };
  return { logger, lines, written };
}

describe('maskSecretsInText', () => {
  const cases: [string, string][] = [
    [
      'POST /v1/webhooks/aliyun/inbound?token=whsec-abc0123456789',
      'POST /v1/webhooks/aliyun/inbound?token=[redacted]',
    ],
    [
      'https://h/v1/webhooks/tencent/receipts?x=1&token=s3cr3t&y=2',
      'https://h/v1/webhooks/tencent/receipts?x=1&token=[redacted]&y=2',
    ],
    ['fetch http://h/a?access_token=abc failed', 'fetch http://h/a?access_token=[redacted] failed'],
    ['?AccessKeySecret=xyz&Signature=abc', '?AccessKeySecret=[redacted]&Signature=[redacted]'],
    ['redis://:p%40ss@redis:6379/0 is down', 'redis://:[redacted]@redis:6379/0 is down'],
    [
      'mongodb://streaming:pw@mongo:27017/streaming?authSource=admin',
      'mongodb://streaming:[redacted]@mongo:27017/streaming?authSource=admin',
    ],
    ['Authorization: Bearer eyJhbGciOi.x.y', 'Authorization: Bearer [redacted]'],
    ['no secrets in /v1/messages?status=sent', 'no secrets in /v1/messages?status=sent'],
    ['user@example.com wrote', 'user@example.com wrote'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(maskSecretsInText(input), expected));
  }

  it('applies to every string of every log line, messages and errors included', () => {
    const { logger, lines } = capture();
    const token = 'whsec-never-in-a-log-0123456789';
    logger.info(`push to http://127.0.0.1:8080/v1/webhooks/aliyun/receipts?token=${token}`, {
      url: `http://127.0.0.1/v1/webhooks/tencent/inbound?token=${token}`,
      err: new Error(`connect ECONNREFUSED http://x/v1/webhooks/aliyun/inbound?token=${token}`),
      nested: { list: [`GET /?token=${token}`] },
      headers: { 'x-webhook-token': token },
    });
    assert.equal(lines.length, 1);
    assert.ok(!JSON.stringify(lines).includes(token), JSON.stringify(lines));
  });
});

describe('maskMobiles', () => {
  const cases: [string, string][] = [
    ['13800138000', '138****8000'],
    ['+8613800138000', '+86138****8000'],
    ['8613800138000', '86138****8000'],
    ['sent to 19912345678 and 15000000001.', 'sent to 199****5678 and 150****0001.'],
    ['手机13800138000已验证', '手机138****8000已验证'],
    ['{"mobile":"+14155552671"}', '{"mobile":"+1415***2671"}'],
    ['+447911123456', '+44791***3456'],
    ['+85291234567', '+852912*4567'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(maskMobiles(input), expected));
  }

  it('leaves other numbers alone', () => {
    for (const text of [
      'order 1234567',
      'ts 1712345678901',
      'id 123e4567-e89b-12d3-a456-426614174000',
      '12800138000',
      '138001380001',
      'abc13800138000',
    ]) {
      assert.equal(maskMobiles(text), text);
    }
  });
});

describe('maskValue', () => {
  it('masks nested strings and numbers and redacts secret keys, without mutating', () => {
    const input = {
      mobile: 13800138000,
      to: ['+8613800138000'],
      password: 'pw',
      nested: {
        Authorization: 'Bearer abc',
        accessKeySecret: 's',
        code: '123456',
        errorCode: 'E1',
      },
      jwtSecret: 'x',
      accessToken: 't',
      statusCode: 200,
    };
    const copy = structuredClone(input);
    assert.deepEqual(maskValue(input), {
      mobile: '138****8000',
      to: ['+86138****8000'],
      password: '[redacted]',
      nested: {
        Authorization: '[redacted]',
        accessKeySecret: '[redacted]',
        code: '[redacted]',
        errorCode: 'E1',
      },
      jwtSecret: '[redacted]',
      accessToken: '[redacted]',
      statusCode: 200,
    });
    assert.deepEqual(input, copy);
  });

  it('copes with cycles and errors', () => {
    const a: Record<string, unknown> = { m: '13800138000' };
    a.self = a;
    assert.deepEqual(maskValue(a), { m: '138****8000', self: '[circular]' });
    const err = maskValue(new Error('bad number 13800138000')) as Record<string, unknown>;
    assert.equal(err.message, 'bad number 138****8000');
  });
});

describe('createLogger', () => {
  it('writes JSON lines with masking in message and metadata', async () => {
    const { logger, lines, written } = capture();
    logger.info('sending to 13800138000', {
      to: '+8613800138000',
      secret: 'x',
      body: { code: '654321' },
    });
    logger.debug('hidden at info');
    logger.info('last');
    await written(2);
    assert.equal(lines.length, 2, 'the debug line is not written at info');
    const [line] = lines;
    assert.equal(line?.message, 'sending to 138****8000');
    assert.equal(line?.to, '+86138****8000');
    assert.equal(line?.secret, '[redacted]');
    assert.deepEqual(line?.body, { code: '[redacted]' });
    assert.equal(line?.level, 'info');
    assert.equal(line?.service, 'test');
    assert.ok(typeof line?.timestamp === 'string');
  });

  it('logs errors with message and stack, masked', async () => {
    const { logger, lines, written } = capture();
    logger.error('failed', { err: new Error('13800138000 rejected') });
    logger.error(new Error('top 13900139000'));
    await written(2);
    const nested = lines[0]?.err as Record<string, unknown>;
    assert.equal(nested.message, '138****8000 rejected');
    assert.match(String(nested.stack), /138\*\*\*\*8000 rejected/);
    assert.equal(lines[1]?.message, 'top 139****9000');
    assert.ok(String(lines[1]?.stack).includes('Error: top 139****9000'));
  });
});

describe('log context', () => {
  it('follows the work through awaits, timers and concurrent requests', async () => {
    const { logger, lines, written } = capture();
    const request = (id: string, delay: number) =>
      withLogContext({ requestId: id, correlationId: `c-${id}` }, async () => {
        await sleep(delay);
        logger.info('step one');
        await Promise.resolve();
        await new Promise<void>((resolve) =>
          setImmediate(() => {
            logger.info('step two');
            resolve();
          }),
        );
        assert.equal(logContext().requestId, id);
      });
    await Promise.all([request('a', 20), request('b', 5)]);
    logger.info('outside');
    await written(5);
    // each request's lines carry its own context, in its order (how the two
    // interleave depends on the machine's speed); the line outside carries none
    const of = (id: string) =>
      lines.filter((l) => l.requestId === id).map((l) => [l.message, l.correlationId]);
    assert.deepEqual(of('a'), [
      ['step one', 'c-a'],
      ['step two', 'c-a'],
    ]);
    assert.deepEqual(of('b'), [
      ['step one', 'c-b'],
      ['step two', 'c-b'],
    ]);
    assert.equal(lines.length, 5);
    const outside = lines.find((l) => l.message === 'outside');
    assert.ok(outside, 'the line outside is written');
    assert.equal(outside.requestId, undefined);
    assert.equal(outside.correlationId, undefined);
  });

  it('nests, lets explicit fields win, and accepts added fields', async () => {
    const { logger, written } = capture();
    await withLogContext({ requestId: 'r1' }, async () => {
      addLogContext({ tenantId: 't1' });
      await withLogContext({ correlationId: 'c1' }, async () => {
        await sleep(1);
        logger.info('inner', { requestId: 'explicit' });
      });
      logger.info('outer');
    });
    assert.deepEqual(logContext(), {});
    const lines = await written(2);
    assert.equal(lines[0]?.requestId, 'explicit');
    assert.equal(lines[0]?.correlationId, 'c1');
    assert.equal(lines[0]?.tenantId, 't1');
    assert.equal(lines[1]?.correlationId, undefined);
  });
});
