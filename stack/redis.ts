import fs from 'node:fs';
import path from 'node:path';
import type { StackConfig } from './config.ts';
import { startDetached, StackError, which } from './proc.ts';
import type { Ctx, Needs, Service } from './service.ts';

export function redis(cfg: StackConfig): Service {
  const home = path.join(cfg.dir, 'redis');
  const logFile = path.join(home, 'redis.log');
  const pidFile = path.join(cfg.dir, 'redis.pid');
  const { port } = cfg.redis;

  return {
    name: 'redis',
    port,
    // redis-server rewrites its process title to "redis-server 127.0.0.1:<port>"
    marker: 'redis-server',
    pidFile,
    logFile,
    readyTimeoutMs: 30_000,
    describe: () => '(appendonly, no password)',

    async probe(timeoutMs: number): Promise<void> {
      const { Redis } = await import('ioredis');
      const client = new Redis({
        host: cfg.host,
        port,
        lazyConnect: true,
        connectTimeout: timeoutMs,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const pong = await client.ping();
        if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
      } finally {
        client.disconnect();
      }
    },

    async needs(): Promise<Needs> {
      return { debs: which('redis-server') ? [] : ['redis-server'], missing: [] };
    },

    async prepare(ctx: Ctx): Promise<void> {
      await ctx.apt();
      if (!which('redis-server')) {
        throw new StackError('redis-server still missing after apt-get install redis-server');
      }
      fs.mkdirSync(home, { recursive: true });
    },

    start(ctx: Ctx) {
      ctx.say(`starting redis-server on ${cfg.host}:${port}`);
      return startDetached(
        which('redis-server') as string,
        [
          '--port',
          String(port),
          '--bind',
          cfg.host,
          '--dir',
          home,
          '--appendonly',
          'yes',
          '--daemonize',
          'no',
          '--pidfile',
          path.join(home, 'redis-server.pid'),
          '--protected-mode',
          'yes',
        ],
        { logFile, pidFile, cwd: home },
      );
    },
  };
}
