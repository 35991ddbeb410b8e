// Durable timers: scheduled sends (sms.accepted with notBefore), retries
// (sms.retry-scheduled, dueAt), reconciliations
// (sms.submission-uncertain) and status pulls (sms.submitted, due after
// STREAMING_RECEIPT_PULL_AFTER without a receipt) are events; an outcome
// that ends the work (delivered, undelivered, failed, expired) drops the
// message's timer. A checkpointed subscription indexes
// their due times in a Redis sorted set (rebuilt from the events after a
// loss: reset the checkpoint), and a poller re-publishes due messages to
// sms.dispatch. A due timer leaves the index only after the broker acked.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import { createPublisher, type Publisher } from '../platform/bus/index.ts';
import { ensureTopics } from '../platform/kafka/index.ts';
import { optionsOf, type ProcessorDeps, type ProcessorOptions, type Running } from './deps.ts';
import { napper } from './napper.ts';
import { DispatchState } from './redisState.ts';
import { dispatchRecord } from './relay.ts';
import { runCheckpointed } from './singleton.ts';
import { outage } from '../platform/health/index.ts';

export const TIMERS_CHECKPOINT = 'timers.index';
/** The longest the poller sleeps: timers set by other processes are seen by then. */
const MAX_IDLE_MS = 1_000;
/** The subscription's batch, and the pause after a smaller one (see index). */
const INDEX_BATCH = 500;
const INDEX_GATHER_MS = 1_000;
const ENDING = new Set([
  'sms.delivered.v1',
  'sms.undelivered.v1',
  'sms.failed.v1',
  'sms.expired.v1',
  'sms.cancelled.v1',
]);

/** The timers a batch sets (due times) and ends: the last event of each message decides. */
function timersOf(
  events: RecordedEvent[],
  options: Pick<ProcessorOptions, 'receiptPullAfterMs' | 'reconcileDelayMs'>,
): { items: { messageId: string; dueMs: number }[]; ended: string[] } {
  const due = new Map<string, number | null>();
  for (const e of events) {
    const messageId = String(e.data.messageId);
    // only a scheduled send has a timer from its acceptance: its notBefore
    if (e.type === 'sms.accepted.v1' && typeof e.data.notBefore !== 'string') continue;
    due.delete(messageId);
    if (ENDING.has(e.type)) due.set(messageId, null);
    else if (e.type === 'sms.retry-scheduled.v1')
      due.set(messageId, Date.parse(String(e.data.dueAt)));
    else if (e.type === 'sms.accepted.v1') due.set(messageId, Date.parse(String(e.data.notBefore)));
    else if (e.type === 'sms.submitted.v1')
      due.set(messageId, e.recordedAt.getTime() + options.receiptPullAfterMs);
    else due.set(messageId, e.recordedAt.getTime() + options.reconcileDelayMs);
  }
  const items: { messageId: string; dueMs: number }[] = [];
  const ended: string[] = [];
  for (const [messageId, dueMs] of due) {
    if (dueMs === null) ended.push(messageId);
    else items.push({ messageId, dueMs });
  }
  return { items, ended };
}

/**
 * When the poller looks at the index next: an empty index is looked at less
 * and less often (up to once a second); a timer indexed here that is due
 * before then wakes the poller at once. Most timers are due minutes ahead
 * (the receipt pull of every submission) and wake nothing.
 */
class PollPace {
  private idleMs: number;
  /** When the poller looks next at the latest; during a round, anything due within a nap counts. */
  private nextLookAt = Infinity;
  private readonly sleeper = napper();
  private readonly pollMs: number;

  constructor(pollMs: number) {
    this.pollMs = pollMs;
    this.idleMs = pollMs;
  }

  indexed(items: readonly { dueMs: number }[]): void {
    let earliest = Infinity;
    for (const i of items) if (i.dueMs < earliest) earliest = i.dueMs;
    if (earliest <= this.nextLookAt) {
      this.idleMs = this.pollMs;
      this.sleeper.wake();
    }
  }

  /** A round starts: it may read before timers indexed during it. */
  looking(): void {
    this.nextLookAt = Date.now() + MAX_IDLE_MS;
  }

  looked(dueCount: number): void {
    this.idleMs = dueCount > 0 ? this.pollMs : Math.min(MAX_IDLE_MS, this.idleMs * 1.5);
  }

  nap(): Promise<void> {
    this.nextLookAt = Date.now() + this.idleMs;
    return this.sleeper.nap(this.idleMs);
  }
}

export async function startTimers(deps: ProcessorDeps): Promise<Running> {
  const options = optionsOf(deps);
  const log = deps.logger.child({ component: 'timers' });
  const state = new DispatchState(deps.redis, options);
  await ensureTopics(deps.kafka, [
    { topic: options.dispatchTopic, numPartitions: options.dispatchPartitions },
  ]);
  let producer: Publisher | undefined;
  const pace = new PollPace(options.pollMs);

  const index = async (events: RecordedEvent[]) => {
    const { items, ended } = timersOf(events, options);
    await state.scheduleMany(items);
    await state.unscheduleMany(ended);
    pace.indexed(items);
    // a small batch is followed by a pause, so that the next one gathers more:
    // under a steady trickle (dispatch at an account's cap) most messages'
    // submission and receipt then land in one batch and need no index write
    // at all, instead of a ZADD and a ZREM of a few members each (1.4 Redis
    // commands per dispatched message at the default caps). Timers due
    // sooner than this come from retries and reconciliations, which are
    // seconds ahead; they fire at most this much later.
    if (events.length < INDEX_BATCH) await sleep(INDEX_GATHER_MS);
  };

  // one line when polling starts failing (Redis or Kafka away), one when it works again
  const polling = outage(log, 'timers', 'a dependency of its due timers');
  const poll = async (isClosed: () => boolean) => {
    while (!isClosed()) {
      pace.looking();
      try {
        const due = await state.peekDue(Date.now(), 500);
        pace.looked(due.length);
        if (due.length > 0) {
          await producer!.publish(
            options.dispatchTopic,
            due.map((d) => dispatchRecord(d.messageId, { messageId: d.messageId, cause: 'timer' })),
          );
          await state.ackDue(due);
        }
        polling.ok();
        if (due.length === 500) continue;
      } catch (err) {
        polling.failed(err);
        await sleep(1_000);
      }
      await pace.nap();
    }
  };

  return runCheckpointed(deps, {
    name: 'timers',
    checkpoint: TIMERS_CHECKPOINT,
    types: [
      'sms.accepted.v1',
      'sms.retry-scheduled.v1',
      'sms.submission-uncertain.v1',
      'sms.submitted.v1',
      ...ENDING,
    ],
    handle: index,
    activate: async () => {
      producer = createPublisher(deps.config, {
        name: 'timers',
        logger: deps.logger,
        onReplaced: (err) =>
          deps.logger.warn(
            "timers: the broker refused the producer's sequence; sending with a new producer",
            { err: String(err) },
          ),
      });
    },
    background: poll,
    deactivate: async () => {
      await producer?.close();
    },
  });
}
