// A job runner process for the scheduler tests: one scheduler with one job on
// a one-second cron. argv: <keyPrefix> <leaseMs> <fast|slow>.
// fast: each run appends "<tick>|<holder>" to <prefix>executions.
// slow: each run appends "<holder>|<token>|<time>" to <prefix>started, then
// works in 100 ms batches until its lease is lost or it is killed.
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis } from '../../../platform/clients/index.ts';
import { createLogger } from '../../../platform/logger/index.ts';
import { startScheduler } from '../../../jobs/index.ts';

const [prefix = 't:', leaseArg = '2000', mode = 'fast'] = process.argv.slice(2);
const redis = createRedis({ redis: { url: 'redis://127.0.0.1:6379/4' } });
const logger = createLogger({ logLevel: 'error' }, { stream: process.stderr });
const holder = `child-${process.pid}`;

const scheduler = startScheduler(
  { redis, logger, leaseMs: Number(leaseArg), keyPrefix: prefix, holder },
  [
    {
      name: 'probe',
      schedule: '* * * * * *',
      async run({ tick, token, signal }) {
        if (mode === 'fast') {
          await redis.rpush(`${prefix}executions`, `${tick.toISOString()}|${holder}`);
          return { tick: tick.toISOString() };
        }
        await redis.rpush(`${prefix}started`, `${holder}|${token}|${Date.now()}`);
        for (let i = 0; i < 600; i++) {
          signal.throwIfAborted();
          await sleep(100);
        }
        return {};
      },
    },
  ],
);
process.stdout.write('ready\n');

process.on('SIGTERM', () => {
  // Stop scheduling; a slow run in progress is simply cut off with the process.
  void Promise.race([scheduler.close(), sleep(500)]).then(() => {
    redis.disconnect();
    process.exit(0);
  });
});
