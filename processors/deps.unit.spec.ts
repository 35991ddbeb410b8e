import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../platform/config/index.ts';
import { optionsOf, type ProcessorDeps } from './deps.ts';

describe('processor options', () => {
  it('take the dispatch topic and group from STREAMING_KAFKA_DISPATCH_*', () => {
    const config = loadConfig({
      STREAMING_KAFKA_DISPATCH_TOPIC: 'blue.sms.dispatch',
      STREAMING_KAFKA_DISPATCH_GROUP: 'blue-dispatcher',
    });
    const options = optionsOf({ config } as ProcessorDeps);
    assert.equal(options.dispatchTopic, 'blue.sms.dispatch');
    assert.equal(options.groupId, 'blue-dispatcher');
  });

  it('default to sms.dispatch and streaming-dispatcher; explicit options win', () => {
    const config = loadConfig({});
    assert.equal(optionsOf({ config } as ProcessorDeps).dispatchTopic, 'sms.dispatch');
    assert.equal(optionsOf({ config } as ProcessorDeps).groupId, 'streaming-dispatcher');
    const own = optionsOf({
      config,
      options: { dispatchTopic: 't', groupId: 'g' },
    } as ProcessorDeps);
    assert.deepEqual([own.dispatchTopic, own.groupId], ['t', 'g']);
  });

  it('reserve send-time limits under the Redis prefix the command side reserves under', () => {
    // the command side: `${redisPrefixOf(deps)}rl:` (command-service/sendingMessages/accepting.ts)
    const blue = optionsOf({
      config: loadConfig({ STREAMING_REDIS_PREFIX: 'blue:' }),
    } as ProcessorDeps);
    assert.deepEqual([blue.redisPrefix, blue.rateLimitPrefix], ['blue:', 'blue:rl:']);
    const standard = optionsOf({ config: loadConfig({}) } as ProcessorDeps);
    assert.deepEqual(
      [standard.redisPrefix, standard.rateLimitPrefix],
      ['streaming:', 'streaming:rl:'],
    );
  });

  it('refuse a topic name Kafka would not take, naming the variable', () => {
    assert.throws(
      () => loadConfig({ STREAMING_KAFKA_DISPATCH_TOPIC: 'no spaces' }),
      /STREAMING_KAFKA_DISPATCH_TOPIC/,
    );
  });
});
