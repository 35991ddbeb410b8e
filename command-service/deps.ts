import type { Redis } from 'ioredis';
import type { Config } from '../platform/config/index.ts';
import type { EventStore } from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import type { Tracker } from '../platform/tracking/index.ts';
import type { Pipeline } from '../platform/health/index.ts';

/** What the command service runs on. */
export interface CommandDeps {
  config: Config;
  logger: Logger;
  eventStore: EventStore;
  redis: Redis;
  tracker: Tracker;
  /**
   * Prefix of every Redis key the service writes (rate limits `<p>rl:…`,
   * login throttle `<p>login:…`, key index `<p>apikeys:…`). Default: Config redis.prefix (STREAMING_REDIS_PREFIX).
   */
  redisPrefix?: string;
  /** The processors and projections of this process, reported by /readyz and /healthz/pipeline. */
  pipeline?: Pipeline;
}
