// The processors' gauges, worked out at scrape time: relay lag (accepted
// messages not yet published to Kafka), the dispatcher group's Kafka
// consumer lag, parked receipts, and the circuit breaker of every configured
// account as the dispatchers share it in Redis (so an account no call went
// to yet shows closed, and every process shows the same). Throttle waits and
// vendor call latency are recorded where they happen (dispatcher.ts,
// suppliers/exchange.ts).
import type { Admin } from 'kafkajs';
import { readCheckpoint } from '../platform/checkpoints/index.ts';
import { collectedGauge, dropCollectors } from '../platform/metrics/index.ts';
import { readBreakers } from '../platform/suppliers/breaker.ts';
import { optionsOf, type ProcessorDeps } from './deps.ts';
import { parkedReceiptCount } from './receipts.ts';
import { RELAY_CHECKPOINT } from './relay.ts';

const NAMES = [
  'streaming_relay_lag_events',
  'streaming_relay_lag_seconds',
  'streaming_kafka_consumer_lag',
  'streaming_parked_receipts',
  'streaming_breaker_state',
];
const BREAKER_VALUE = { closed: 0, probe: 1, open: 2 } as const;
/** How far past the relay's checkpoint the lag is counted. */
const RELAY_SCAN = 1_000;

export function watchProcessors(deps: ProcessorDeps): { close(): Promise<void> } {
  const options = optionsOf(deps);
  let admin: Admin | undefined;
  let connecting: Promise<Admin> | undefined;
  const adminClient = (): Promise<Admin> =>
    (connecting ??= (async () => {
      const a = deps.kafka.admin();
      await a.connect();
      admin = a;
      return a;
    })().catch((err: unknown) => {
      connecting = undefined;
      throw err;
    }));

  const relayLag = relayLagReader(deps);

  collectedGauge(
    {
      name: 'streaming_relay_lag_events',
      help: `Accepted messages not yet published to Kafka (counted in the next ${RELAY_SCAN} events past the relay checkpoint)`,
    },
    async (g) => g.set((await relayLag()).events),
  );
  collectedGauge(
    {
      name: 'streaming_relay_lag_seconds',
      help: 'Age of the oldest accepted message not yet published to Kafka (0 when caught up)',
    },
    async (g) => g.set((await relayLag()).seconds),
  );
  collectedGauge(
    {
      name: 'streaming_kafka_consumer_lag',
      help: 'Records on the dispatch topic not yet committed by the dispatcher group, by topic and group',
      labelNames: ['topic', 'group'] as const,
    },
    async (g) => {
      const topic = options.dispatchTopic;
      const lag = await consumerLag(await adminClient(), topic, options.groupId);
      g.set({ topic, group: options.groupId }, lag);
    },
  );
  collectedGauge(
    {
      name: 'streaming_parked_receipts',
      help: 'Delivery receipts parked until their message is known',
    },
    async (g) => g.set(await parkedReceiptCount(deps)),
  );
  collectedGauge(
    {
      name: 'streaming_breaker_state',
      help: 'Circuit breaker per supplier account, as the dispatchers share it: 0 closed, 1 probe, 2 open',
      labelNames: ['account'] as const,
    },
    async (g) => {
      const accounts = (deps.config.suppliers ?? []).map((a) => a.id);
      const breakers = await readBreakers(
        deps.redis,
        options.redisPrefix,
        accounts,
        options.breakerWindowMs,
      );
      for (const [account, b] of breakers) g.set({ account }, BREAKER_VALUE[b.state]);
    },
  );
  return {
    async close() {
      dropCollectors(NAMES);
      await admin?.disconnect().catch(() => undefined);
    },
  };
}

/** The relay's lag, read at most once a second however many gauges ask. */
function relayLagReader(deps: ProcessorDeps): () => Promise<{ events: number; seconds: number }> {
  let relay: Promise<{ events: number; seconds: number }> | undefined;
  let relayAt = 0;
  const relayLag = () => {
    if (!relay || Date.now() - relayAt > 1_000) {
      relayAt = Date.now();
      relay = (async () => {
        const after = await readCheckpoint(deps.mysql, RELAY_CHECKPOINT);
        const events = await deps.eventStore.readAll({ after, limit: RELAY_SCAN });
        const pending = events.filter((e) => e.type === 'sms.accepted.v1');
        const oldest = pending[0];
        return {
          events: pending.length,
          seconds: oldest ? Math.max(0, Date.now() - oldest.recordedAt.getTime()) / 1000 : 0,
        };
      })();
    }
    return relay;
  };
  return relayLag;
}

/** Records on the topic the group has not committed yet, over its partitions. */
async function consumerLag(admin: Admin, topic: string, groupId: string): Promise<number> {
  const [high, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const done = new Map<number, number>();
  for (const t of committed) {
    for (const p of t.partitions) done.set(p.partition, Number(p.offset));
  }
  let lag = 0;
  for (const p of high) {
    const c = done.get(p.partition) ?? -1;
    lag += Math.max(0, Number(p.high) - Math.max(c, Number(p.low)));
  }
  return lag;
}
