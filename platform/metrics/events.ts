// The business counters, derived in ONE place from the event store rather
// than incremented wherever the dispatcher, the webhooks or the timers
// happen to decide: a subscription from the head at start counts what every
// process appends (accepted, submitted, failed over, retried, uncertain,
// receipts, mismatched receipts, final statuses including expired, inbound). Like any Prometheus counter they start
// at zero with the process; rate() and increase() absorb the restart. Run
// it in one process per deployment (it runs with the projectors).
import type { EventStore, RecordedEvent } from '../eventStore/index.ts';
import { outage } from '../health/outage.ts';
import type { Logger } from '../logger/index.ts';
import { collectedGauge, counter, dropCollectors, histogram, SLOW_BUCKETS } from './registry.ts';

const accepted = counter({
  name: 'streaming_messages_accepted_total',
  help: 'Messages accepted (sms.accepted), by template kind',
  labelNames: ['kind'] as const,
});
const submissions = counter({
  name: 'streaming_submissions_total',
  help: 'Submissions a supplier account accepted (sms.submitted), by account',
  labelNames: ['account'] as const,
});
const failovers = counter({
  name: 'streaming_failovers_total',
  help: 'Fail-overs away from an account (sms.failed-over), by account and reason code',
  labelNames: ['account', 'code'] as const,
});
const retries = counter({
  name: 'streaming_retries_scheduled_total',
  help: 'Retries scheduled on a durable timer (sms.retry-scheduled), by account and reason code',
  labelNames: ['account', 'code'] as const,
});
const uncertain = counter({
  name: 'streaming_submissions_uncertain_total',
  help: 'Submissions with an unknown outcome, to reconcile (sms.submission-uncertain), by account',
  labelNames: ['account'] as const,
});
const receipts = counter({
  name: 'streaming_receipts_total',
  help: 'Delivery receipts received (receipt.received), by account and outcome',
  labelNames: ['account', 'outcome'] as const,
});
const finals = counter({
  name: 'streaming_messages_final_total',
  help: 'Messages that reached a final status, by account (none for failed before any) and status',
  labelNames: ['account', 'status'] as const,
});
const mismatched = counter({
  name: 'streaming_receipts_mismatched_total',
  help: 'Receipts and pulled statuses that named a message they were not about (receipt.mismatched), by account and reason',
  labelNames: ['account', 'reason'] as const,
});
const inbound = counter({
  name: 'streaming_inbound_total',
  help: 'Inbound (MO) messages received, by account',
  labelNames: ['account'] as const,
});
const receiptLatency = histogram({
  name: 'streaming_receipt_latency_seconds',
  help: 'From the submission to its final delivery report, by account (messages submitted since this process started)',
  labelNames: ['account'] as const,
  buckets: SLOW_BUCKETS,
});
const endToEnd = histogram({
  name: 'streaming_delivery_latency_seconds',
  help: 'From acceptance to a final status, by status (messages accepted since this process started)',
  labelNames: ['status'] as const,
  buckets: SLOW_BUCKETS,
});

/** How many in-flight messages are remembered for the latency histograms. */
const MAX_TRACKED = 200_000;

const str = (v: unknown, fallback = 'none'): string =>
  typeof v === 'string' && v.length > 0 && v.length <= 64 ? v : fallback;
const codeOf = (reason: unknown): string =>
  str((reason as { code?: unknown } | null | undefined)?.code, 'unknown');

export interface EventMetrics {
  /** Position of the last event counted. */
  readonly position: number;
  waitFor(position: number, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** When each message in flight was accepted and submitted (for the latencies of its end). */
class MessageClock {
  private readonly acceptedAt = new Map<string, number>();
  private readonly submittedAt = new Map<string, number>();

  private static remember(map: Map<string, number>, id: string, at: number): void {
    if (map.size >= MAX_TRACKED) map.delete(map.keys().next().value as string);
    map.set(id, at);
  }

  accepted(e: RecordedEvent): void {
    MessageClock.remember(this.acceptedAt, String(e.data.messageId), e.recordedAt.getTime());
  }

  submitted(e: RecordedEvent): void {
    MessageClock.remember(this.submittedAt, String(e.data.messageId), e.recordedAt.getTime());
  }

  /** A final status: counted, with its receipt and end-to-end latencies; the message forgotten. */
  final(e: RecordedEvent, status: string): void {
    const id = String(e.data.messageId);
    const account = str(e.data.supplierAccount);
    finals.inc({ account, status });
    const at = e.recordedAt.getTime();
    const sub = this.submittedAt.get(id);
    if (sub !== undefined && (status === 'delivered' || status === 'undelivered')) {
      receiptLatency.observe({ account }, Math.max(0, at - sub) / 1000);
    }
    const acc = this.acceptedAt.get(id);
    if (acc !== undefined) endToEnd.observe({ status }, Math.max(0, at - acc) / 1000);
    this.submittedAt.delete(id);
    this.acceptedAt.delete(id);
  }
}

/** What each counted event type adds to the metrics. */
const COUNTERS: Record<string, (e: RecordedEvent, clock: MessageClock) => void> = {
  'sms.accepted.v1': (e, clock) => {
    accepted.inc({ kind: str(e.data.kind) });
    clock.accepted(e);
  },
  'sms.submitted.v1': (e, clock) => {
    submissions.inc({ account: str(e.data.supplierAccount) });
    clock.submitted(e);
  },
  'sms.failed-over.v1': (e) =>
    failovers.inc({ account: str(e.data.fromAccount), code: codeOf(e.data.reason) }),
  'sms.retry-scheduled.v1': (e) =>
    retries.inc({ account: str(e.data.supplierAccount), code: codeOf(e.data.reason) }),
  'sms.submission-uncertain.v1': (e) => uncertain.inc({ account: str(e.data.supplierAccount) }),
  'receipt.received.v1': (e) =>
    receipts.inc({
      account: str(e.data.account),
      outcome: e.data.delivered === true ? 'delivered' : 'undelivered',
    }),
  'sms.delivered.v1': (e, clock) => clock.final(e, 'delivered'),
  'sms.undelivered.v1': (e, clock) => clock.final(e, 'undelivered'),
  'sms.failed.v1': (e, clock) => clock.final(e, 'failed'),
  'sms.expired.v1': (e, clock) => clock.final(e, 'expired'),
  'receipt.mismatched.v1': (e) =>
    mismatched.inc({ account: str(e.data.account), reason: str(e.data.reason, 'unknown') }),
  'inbound.received.v1': (e) => inbound.inc({ account: str(e.data.supplierAccount) }),
};

export async function startEventMetrics(
  eventStore: EventStore,
  logger?: Logger,
): Promise<EventMetrics> {
  const clock = new MessageClock();
  const reading = logger ? outage(logger, 'event metrics', 'the event store') : undefined;
  const from = await eventStore.headPosition();
  const subscription = eventStore.subscribe({
    after: from,
    types: Object.keys(COUNTERS),
    onEvents: async (events) => {
      for (const e of events) COUNTERS[e.type]?.(e, clock);
    },
    // one line when the event store goes away, one when it is back
    onError: (err) => reading?.failed(err),
    onRecovered: () => reading?.ok(),
  });
  collectedGauge(
    {
      name: 'streaming_event_store_head_position',
      help: 'Global position of the newest event in the event store',
    },
    async (g) => g.set(await eventStore.headPosition()),
  );
  return {
    get position() {
      return subscription.position;
    },
    waitFor: (position, timeoutMs) => subscription.waitFor(position, timeoutMs),
    async close() {
      dropCollectors(['streaming_event_store_head_position']);
      await subscription.stop();
    },
  };
}
