// What every processor needs, and the knobs tests and deployments may turn.
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../platform/config/index.ts';
import type { MysqlPool } from '../platform/clients/index.ts';
import type { EventStore } from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import type { Tracker } from '../platform/tracking/index.ts';
import type { Pipeline } from '../platform/health/index.ts';
import { DEFAULT_REDIS_PREFIX, DISPATCH_GROUP, DISPATCH_TOPIC } from '../contracts/index.ts';

export interface ProcessorOptions {
  /** Kafka topic of messages to dispatch (STREAMING_KAFKA_DISPATCH_TOPIC, default sms.dispatch). */
  dispatchTopic: string;
  /**
   * Partitions of the dispatch topic (created with them; an existing topic
   * with fewer is grown). Each is a batch in work of its own.
   */
  dispatchPartitions: number;
  /** Consumer group of the dispatchers (STREAMING_KAFKA_DISPATCH_GROUP, default streaming-dispatcher). */
  groupId: string;
  /** Prefix of every Redis key the processors write (default "streaming:"). */
  redisPrefix: string;
  /** Retries of a transient failure on one account before failing over. */
  maxRetriesPerAccount: number;
  /** First retry delay; doubles per retry, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Wait before the first reconciliation of an uncertain submission. */
  reconcileDelayMs: number;
  /**
   * After a call that may have been sent, an Aliyun "not found" is believed
   * (and the message sent again) only this long after the call
   * (STREAMING_RECEIPT_RECONCILE_WINDOW): its query lags behind its sends.
   */
  reconcileWindowMs: number;
  /** A submitted message without a receipt this long has its status pulled (STREAMING_RECEIPT_PULL_AFTER). */
  receiptPullAfterMs: number;
  /**
   * Still unknown this long after its submission or uncertain call: expired
   * (STREAMING_RECEIPT_EXPIRE_AFTER).
   */
  receiptExpireAfterMs: number;
  /** Circuit breaker: consecutive failures that open it. */
  breakerFailures: number;
  /** Circuit breaker: error rate (0..1) over the window that opens it, with breakerMinCalls calls at least. */
  breakerErrorRate: number;
  breakerMinCalls: number;
  breakerWindowMs: number;
  /** Open breaker cool-down before one probe call is let through. */
  breakerCooldownMs: number;
  /** Messages a dispatcher works on at once (over all its partitions). */
  concurrency: number;
  /** How often timers and parked receipts are looked at. */
  pollMs: number;
  /** First wait before asking a vendor about a review; it grows up to reviewPollMaxMs. */
  reviewPollMs: number;
  reviewPollMaxMs: number;
  /**
   * Prefix of the rate-limit keys the command service reserves under (its
   * Redis prefix + `rl:`): a scheduled send reserves its limits at send time there.
   */
  rateLimitPrefix: string;
}

export const defaultProcessorOptions: ProcessorOptions = {
  dispatchTopic: DISPATCH_TOPIC,
  dispatchPartitions: 32,
  groupId: DISPATCH_GROUP,
  redisPrefix: DEFAULT_REDIS_PREFIX,
  maxRetriesPerAccount: 3,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  reconcileDelayMs: 2_000,
  reconcileWindowMs: 600_000,
  receiptPullAfterMs: 300_000,
  receiptExpireAfterMs: 259_200_000,
  breakerFailures: 5,
  breakerErrorRate: 0.5,
  breakerMinCalls: 20,
  breakerWindowMs: 30_000,
  breakerCooldownMs: 5_000,
  concurrency: 512,
  pollMs: 200,
  reviewPollMs: 500,
  reviewPollMaxMs: 600_000,
  rateLimitPrefix: `${DEFAULT_REDIS_PREFIX}rl:`,
};

export interface ProcessorDeps {
  config: Config;
  logger: Logger;
  eventStore: EventStore;
  mysql: MysqlPool;
  redis: Redis;
  kafka: Kafka;
  tracker: Tracker;
  /** Where each processor reports its progress for readiness (none: not reported). */
  pipeline?: Pipeline;
  options?: Partial<ProcessorOptions>;
}

export function optionsOf(deps: ProcessorDeps): ProcessorOptions {
  const receipts = deps.config?.receipts;
  const kafka = deps.config?.kafka;
  return {
    ...defaultProcessorOptions,
    // older test configs may lack them: the defaults stand
    ...(kafka?.dispatchTopic ? { dispatchTopic: kafka.dispatchTopic } : {}),
    ...(kafka?.dispatchGroup ? { groupId: kafka.dispatchGroup } : {}),
    // one prefix for the whole system: the command side reserves its rate limits under it too
    ...(deps.config?.redis?.prefix
      ? { redisPrefix: deps.config.redis.prefix, rateLimitPrefix: `${deps.config.redis.prefix}rl:` }
      : {}),
    ...(receipts
      ? {
          reconcileWindowMs: receipts.reconcileWindowMs,
          receiptPullAfterMs: receipts.pullAfterMs,
          receiptExpireAfterMs: receipts.expireAfterMs,
        }
      : {}),
    ...deps.options,
  };
}

export interface Running {
  close(): Promise<void>;
}
