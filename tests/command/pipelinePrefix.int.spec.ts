// /healthz/pipeline of the command service shows the parts other processes
// publish under the system's configured Redis prefix (STREAMING_REDIS_PREFIX),
// and not those of another system sharing the Redis under a prefix of its own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCommandService } from '../../command-service/index.ts';
import { createPipeline } from '../../platform/health/index.ts';
import { startHarness, type Harness } from './harness.ts';

const system = `pipe${randomBytes(4).toString('hex')}:`;
const other = `pipe${randomBytes(4).toString('hex')}:`;
const health = new URL('../../platform/health/index.ts', import.meta.url).href;
const clients = new URL('../../platform/clients/index.ts', import.meta.url).href;

/** Another process: runs one part and publishes it under `prefix` every 100 ms, until killed. */
function publisher(redisUrl: string, prefix: string, name: string) {
  return spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
      const { createPipeline, publishPipeline } = await import(${JSON.stringify(health)});
      const { createRedis } = await import(${JSON.stringify(clients)});
      const redis = createRedis({ redis: { url: ${JSON.stringify(redisUrl)} } });
      const pipeline = createPipeline();
      pipeline.register(${JSON.stringify(name)}, 'projection', { position: () => 0 }).setActive(true);
      publishPipeline(redis, pipeline, async () => 0, { process: 'elsewhere', prefix: ${JSON.stringify(prefix)}, everyMs: 100 });
      setInterval(() => undefined, 1000);
      `,
    ],
    { stdio: 'inherit' },
  );
}

describe('/healthz/pipeline under a configured Redis prefix', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('pipeline_prefix', { STREAMING_REDIS_PREFIX: system });
  });
  after(async () => {
    for (const prefix of [system, other]) {
      const keys = await h.redis.keys(`${prefix}*`);
      if (keys.length > 0) await h.redis.del(...keys);
    }
    await h.close();
  });

  it("lists another process's parts under the system's prefix, not another system's", async () => {
    const service = await startCommandService(
      { ...h.deps, pipeline: createPipeline() },
      { port: 0 },
    );
    // another process of this system, and one of another system on the same Redis
    const children = [
      publisher(h.config.redis.url, system, 'ours@1'),
      publisher(h.config.redis.url, other, 'theirs@1'),
    ];
    try {
      let names: string[] = [];
      for (let i = 0; i < 100 && !names.includes('ours@1'); i += 1) {
        const res = await fetch(new URL('/healthz/pipeline', service.url));
        const body = (await res.json()) as { parts: { name: string; process?: string }[] };
        names = body.parts.map((p) => p.name);
        if (!names.includes('ours@1')) await sleep(100);
      }
      assert.ok(names.includes('ours@1'), `the part published under ${system}: ${names.join()}`);
      assert.ok(!names.includes('theirs@1'), 'not the part of another system');
    } finally {
      for (const child of children) {
        child.kill('SIGKILL');
        await once(child, 'exit').catch(() => undefined);
      }
      await service.close();
    }
  });
});
