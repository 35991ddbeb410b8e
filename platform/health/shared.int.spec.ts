// The pipeline every process publishes to Redis: a part whose process dies
// (SIGKILL) is shown as stalled, naming the pid, also after its report's key
// has expired, until another process runs it; a process that stops cleanly
// takes its parts out. Against the stack's Redis, under a prefix of its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { createRedis } from '../clients/index.ts';
import { createPipeline, publishPipeline, readSharedPipeline } from './index.ts';

const config = loadConfig({ ...process.env, STREAMING_ENV: 'test' });
const shared = new URL('./index.ts', import.meta.url).href;
const clients = new URL('../clients/index.ts', import.meta.url).href;

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('the shared pipeline report', () => {
  const prefix = `pipetest${randomBytes(4).toString('hex')}:`;
  let redis: ReturnType<typeof createRedis>;
  before(() => {
    redis = createRedis(config);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('shows the parts of a killed process as stalled after their keys expire', async () => {
    // a process that runs one part and publishes it every 100 ms
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        const { createPipeline, publishPipeline } = await import(${JSON.stringify(shared)});
        const { createRedis } = await import(${JSON.stringify(clients)});
        const redis = createRedis({ redis: { url: ${JSON.stringify(config.redis.url)} } });
        const pipeline = createPipeline();
        const part = pipeline.register('doomed@1', 'projection', { position: () => 7 });
        part.setActive(true);
        publishPipeline(redis, pipeline, async () => 7, { process: 'doomed', prefix: ${JSON.stringify(prefix)}, everyMs: 100 });
        setInterval(() => undefined, 1000);
        `,
      ],
      { stdio: 'inherit' },
    );
    const pid = child.pid!;
    try {
      await until('the part reported', async () => {
        const parts = await readSharedPipeline(redis, prefix);
        return parts.some((p) => p.name === 'doomed@1' && p.pid === pid && p.state !== 'stalled')
          ? true
          : undefined;
      });
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => undefined);
    }
    // its report's key expires (10 s): the part stays in the answer, stalled, naming the pid
    await until(
      'the report key expired',
      async () =>
        (await redis.exists(`${prefix}health:part:doomed@1:${pid}`)) === 0 ? true : undefined,
      60_000,
    );
    const gone = await readSharedPipeline(redis, prefix);
    const doomed = gone.filter((p) => p.name === 'doomed@1');
    assert.equal(doomed.length, 1, JSON.stringify(gone));
    assert.equal(doomed[0]!.state, 'stalled');
    assert.match(doomed[0]!.error ?? '', new RegExp(`pid ${pid}\\b.*stopped reporting`));

    // another process takes the part over: only the live one is shown, and the dead one forgotten
    const pipeline = createPipeline();
    const part = pipeline.register('doomed@1', 'projection', { position: () => 7 });
    part.setActive(true);
    const publisher = publishPipeline(redis, pipeline, async () => 7, {
      prefix,
      everyMs: 100,
      process: 'heir',
    });
    await until('the heir reported', async () => {
      const parts = (await readSharedPipeline(redis, prefix)).filter((p) => p.name === 'doomed@1');
      return parts.length === 1 && parts[0]!.pid === process.pid && parts[0]!.state !== 'stalled'
        ? true
        : undefined;
    });
    assert.equal(await redis.hexists(`${prefix}health:known`, `doomed@1:${pid}`), 0);

    // a clean stop takes its parts out: nothing is left to look stalled
    await publisher.stop();
    part.close();
    assert.deepEqual(
      (await readSharedPipeline(redis, prefix)).filter((p) => p.name === 'doomed@1'),
      [],
    );
  });

  it('takes out a part closed while its process keeps running', async () => {
    const pipeline = createPipeline();
    const kept = pipeline.register('kept@1', 'projection', { position: () => 1 });
    const closed = pipeline.register('closed@1', 'projection', { position: () => 1 });
    kept.setActive(true);
    closed.setActive(true);
    const publisher = publishPipeline(redis, pipeline, async () => 1, {
      prefix,
      everyMs: 100,
      process: 'p',
    });
    try {
      await until('both reported', async () => {
        const names = (await readSharedPipeline(redis, prefix)).map((p) => p.name);
        return names.includes('kept@1') && names.includes('closed@1') ? true : undefined;
      });
      closed.close();
      await until('the closed part withdrawn', async () =>
        (await redis.hexists(`${prefix}health:known`, `closed@1:${process.pid}`)) === 0
          ? true
          : undefined,
      );
      const names = (await readSharedPipeline(redis, prefix)).map((p) => p.name);
      assert.ok(names.includes('kept@1'));
      assert.ok(!names.includes('closed@1'));
    } finally {
      await publisher.stop();
    }
  });

  it('a process without parts reads no head and writes nothing, until it has one', async () => {
    const own = `${prefix}api:`; // a prefix of its own: the other tests' parts are not in it
    const pipeline = createPipeline();
    let heads = 0;
    const publisher = publishPipeline(
      redis,
      pipeline,
      async () => {
        heads++;
        return 1;
      },
      { prefix: own, everyMs: 50, process: 'api' },
    );
    try {
      await sleep(500);
      assert.equal(heads, 0);
      assert.equal(await redis.hlen(`${own}health:known`), 0);
      const part = pipeline.register('late@1', 'projection', { position: () => 1 });
      part.setActive(true);
      await until('the part reported', async () =>
        (await redis.hexists(`${own}health:known`, `late@1:${process.pid}`)) === 1
          ? true
          : undefined,
      );
      assert.ok(heads > 0);
      part.close();
    } finally {
      await publisher.stop();
    }
  });
});
