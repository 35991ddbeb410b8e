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

export async function startEventMetrics(
  eventStore: EventStore,
  logger?: Logger,
): Promise<EventMetrics> {
  const acceptedAt = new Map<string, number>();
  const submittedAt = new Map<string, number>();
  const remember = (map: Map<string, number>, id: string, at: number) => {
    if (map.size >= MAX_TRACKED) map.delete(map.keys().next().value as string);
    map.set(id, at);
  };
  const final = (e: RecordedEvent, status: string) => {
    const id = String(e.data.messageId);
    const account = str(e.data.supplierAccount);
    finals.inc({ account, status });
    const at = e.recordedAt.getTime();
    const sub = submittedAt.get(id);
    if (sub !== undefined && (status === 'delivered' || status === 'undelivered')) {
      receiptLatency.observe({ account }, Math.max(0, at - sub) / 1000);
    }
    const acc = acceptedAt.get(id);
    if (acc !== undefined) endToEnd.observe({ status }, Math.max(0, at - acc) / 1000);
    submittedAt.delete(id);
    acceptedAt.delete(id);
  };

  const count = (e: RecordedEvent): void => {
    const d = e.data;
    switch (e.type) {
      case 'sms.accepted.v1':
        accepted.inc({ kind: str(d.kind) });
        remember(acceptedAt, String(d.messageId), e.recordedAt.getTime());
        break;
      case 'sms.submitted.v1':
        submissions.inc({ account: str(d.supplierAccount) });
        remember(submittedAt, String(d.messageId), e.recordedAt.getTime());
        break;
      case 'sms.failed-over.v1':
        failovers.inc({ account: str(d.fromAccount), code: codeOf(d.reason) });
        break;
      case 'sms.retry-scheduled.v1':
        retries.inc({ account: str(d.supplierAccount), code: codeOf(d.reason) });
        break;
      case 'sms.submission-uncertain.v1':
        uncertain.inc({ account: str(d.supplierAccount) });
        break;
      case 'receipt.received.v1':
        receipts.inc({
          account: str(d.account),
          outcome: d.delivered === true ? 'delivered' : 'undelivered',
        });
        break;
      case 'sms.delivered.v1':
        final(e, 'delivered');
        break;
      case 'sms.undelivered.v1':
        final(e, 'undelivered');
        break;
      case 'sms.failed.v1':
        final(e, 'failed');
        break;
      case 'sms.expired.v1':
        final(e, 'expired');
        break;
      case 'receipt.mismatched.v1':
        mismatched.inc({ account: str(d.account), reason: str(d.reason, 'unknown') });
        break;
      case 'inbound.received.v1':
        inbound.inc({ account: str(d.supplierAccount) });
        break;
    }
  };

  const reading = logger ? outage(logger, 'event metrics', 'the event store') : undefined;
  const from = await eventStore.headPosition();
  const subscription = eventStore.subscribe({
    after: from,
    types: [
      'sms.accepted.v1',
      'sms.submitted.v1',
      'sms.failed-over.v1',
      'sms.retry-scheduled.v1',
      'sms.submission-uncertain.v1',
      'receipt.received.v1',
      'sms.delivered.v1',
      'sms.undelivered.v1',
      'sms.failed.v1',
      'sms.expired.v1',
      'receipt.mismatched.v1',
      'inbound.received.v1',
    ],
    onEvents: async (events) => {
      for (const e of events) count(e);
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
