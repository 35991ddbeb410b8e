// given (the message's events) / when (what just happened) / then (the step):
// the dispatcher's decisions without Kafka, Redis or a supplier.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate } from '../domain/decider.ts';
import {
  messageDecider,
  type ExistingMessage,
  type MessageEvent,
  type SmsAcceptedData,
} from '../domain/messages/index.ts';
import { nextStep, type Outcome, type PolicyOptions, type Step } from './dispatchPolicy.ts';

const NOW = Date.parse('2026-12-02T04:00:00.000Z');
const options: PolicyOptions = {
  now: NOW,
  defaultSuppliers: ['default-a'],
  weights: new Map(),
  maxRetriesPerAccount: 2,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  breakerCooldownMs: 30_000,
  reconcileDelayMs: 5_000,
  random: () => 0.5,
};

const acceptedData: SmsAcceptedData = {
  messageId: 'm1',
  tenantId: 'acme',
  templateId: 't1',
  templateCode: 'SHIPPED',
  kind: 'notification',
  mobile: '+8613800138000',
  content: '【Acme】shipped',
  params: {},
  segments: 1,
  encoding: 'UCS-2',
  suppliers: ['primary', 'backup'],
  requestHash: 'h1',
  acceptedAt: '2026-12-02T03:59:00.000Z',
};
const accepted = (extra: Partial<SmsAcceptedData> = {}): MessageEvent => ({
  type: 'sms.accepted.v1',
  data: { ...acceptedData, ...extra },
});
const reason = { code: 'isv.SYSTEM', message: 'try later', retriable: true };
const retried = (account: string, attempt: number, dueAt: string): MessageEvent => ({
  type: 'sms.retry-scheduled.v1',
  data: { messageId: 'm1', supplierAccount: account, attempt, dueAt, reason },
});
const failedOver = (from: string, to: string): MessageEvent => ({
  type: 'sms.failed-over.v1',
  data: { messageId: 'm1', fromAccount: from, toAccount: to, reason },
});

function given(...events: MessageEvent[]) {
  const state = aggregate(messageDecider, events);
  assert.ok(state.exists);
  const s = state as ExistingMessage;
  return {
    when(outcome: Outcome, o: Partial<PolicyOptions> = {}) {
      const step = nextStep(s, outcome, { ...options, ...o });
      // a command the step asks for is one the message's decider takes in that state
      if (step.command) messageDecider.decide(step.command, s);
      return {
        then(expected: Step) {
          assert.deepEqual(step, expected);
        },
        thenMatches(check: (step: Step) => void) {
          check(step);
        },
      };
    },
  };
}

describe('dispatch policy: nextStep', () => {
  it('sends a fresh message through the first account of its template', () => {
    given(accepted())
      .when({ kind: 'loaded' })
      .then({ effect: { kind: 'send', account: 'primary' } });
  });

  it('uses the default accounts when the template names none', () => {
    given(accepted({ suppliers: [] }))
      .when({ kind: 'loaded' })
      .then({ effect: { kind: 'send', account: 'default-a' } });
  });

  it('sleeps a scheduled send until its time, on a timer', () => {
    const at = '2026-12-02T05:00:00.000Z';
    given(accepted({ sendAt: at, notBefore: at, limitsAtSend: true }))
      .when({ kind: 'loaded' })
      .then({ wakeAt: Date.parse(at) });
  });

  it('checks the limits of a scheduled send once it is due, then records them', () => {
    const at = '2026-12-02T03:30:00.000Z';
    const due = accepted({ sendAt: at, notBefore: at, limitsAtSend: true });
    given(due)
      .when({ kind: 'loaded' })
      .then({ effect: { kind: 'check' } });
    given(due)
      .when({ kind: 'checked', ok: true })
      .then({
        command: {
          type: 'RecordLimitsReserved',
          data: { reservedAt: new Date(NOW).toISOString() },
        },
        again: true,
      });
    const refused = { code: 'MOBILE_OPTED_OUT', message: 'opted out', retriable: false };
    given(due)
      .when({ kind: 'checked', ok: false, reason: refused })
      .then({ command: { type: 'RecordFailure', data: { reason: refused } } });
  });

  it('waits for a retry that is not due yet', () => {
    const dueAt = '2026-12-02T04:00:10.000Z';
    given(accepted(), retried('primary', 1, dueAt))
      .when({ kind: 'loaded' })
      .then({ wakeAt: Date.parse(dueAt) });
  });

  it('records a submission, with the look-ups written first', () => {
    given(accepted())
      .when({
        kind: 'sent',
        account: 'primary',
        outcome: { kind: 'accepted', supplierMessageId: 'biz-1', latencyMs: 12 },
      })
      .then({
        command: {
          type: 'RecordSubmission',
          data: { supplierAccount: 'primary', supplierMessageId: 'biz-1', latencyMs: 12 },
        },
        lookups: { sharedId: false },
      });
  });

  it('retries a 5xx-not-sent answer with backoff on a durable timer', () => {
    given(accepted())
      .when({
        kind: 'sent',
        account: 'primary',
        outcome: { kind: 'transient', code: 'HTTP_503', message: 'busy', latencyMs: 5 },
      })
      .thenMatches((step) => {
        assert.equal(step.command?.type, 'ScheduleRetry');
        assert.ok(step.wakeAt !== undefined && step.wakeAt > NOW, 'on a timer, later');
        assert.equal(step.again, undefined);
        // backoff grows with the retries on the account
        const first = step.wakeAt - NOW;
        const second = nextStep(
          aggregate(messageDecider, [
            accepted(),
            retried('primary', 1, new Date(NOW - 1).toISOString()),
          ]) as ExistingMessage,
          {
            kind: 'sent',
            account: 'primary',
            outcome: { kind: 'transient', code: 'HTTP_503', message: 'busy', latencyMs: 5 },
          },
          options,
        );
        assert.ok(second.wakeAt! - NOW > first, 'the second retry waits longer');
      });
  });

  it('fails over once the retries on an account are used up', () => {
    const past = new Date(NOW - 1).toISOString();
    given(accepted(), retried('primary', 1, past), retried('primary', 2, past))
      .when({
        kind: 'sent',
        account: 'primary',
        outcome: { kind: 'transient', code: 'HTTP_503', message: 'busy', latencyMs: 5 },
      })
      .then({
        command: {
          type: 'RecordFailover',
          data: {
            fromAccount: 'primary',
            toAccount: 'backup',
            reason: { code: 'HTTP_503', message: 'busy', retriable: true },
          },
        },
        again: true,
      });
  });

  it('fails when the last account rejects, and at once for a rejection about the number', () => {
    const rejected = { kind: 'rejected', code: 'isv.X', message: 'no', latencyMs: 1 } as const;
    given(accepted(), failedOver('primary', 'backup'))
      .when({ kind: 'sent', account: 'backup', outcome: rejected })
      .then({
        command: {
          type: 'RecordFailure',
          data: {
            supplierAccount: 'backup',
            reason: { code: 'isv.X', message: 'no', retriable: false },
          },
        },
      });
    given(accepted())
      .when({ kind: 'sent', account: 'primary', outcome: { ...rejected, recipient: true } })
      .then({
        command: {
          type: 'RecordFailure',
          data: {
            supplierAccount: 'primary',
            reason: { code: 'isv.X', message: 'no', retriable: false },
          },
        },
      });
  });

  it('fails over past an open breaker, or waits out its cool-down on the last account', () => {
    given(accepted())
      .when({ kind: 'breakerOpen', account: 'primary' })
      .thenMatches((step) => {
        assert.equal(step.command?.type, 'RecordFailover');
        assert.equal(step.again, true);
      });
    given(accepted(), failedOver('primary', 'backup'))
      .when({ kind: 'breakerOpen', account: 'backup' })
      .thenMatches((step) => {
        assert.equal(step.command?.type, 'ScheduleRetry');
        assert.ok(step.wakeAt! - NOW >= options.breakerCooldownMs, 'not before the cool-down');
      });
  });

  it('records an unknown outcome as uncertain and reconciles it later, never re-sending blindly', () => {
    given(accepted())
      .when({
        kind: 'sent',
        account: 'primary',
        outcome: { kind: 'unknown', code: 'TIMEOUT', message: 'no answer', latencyMs: 10_000 },
      })
      .then({
        command: {
          type: 'RecordUncertain',
          data: {
            supplierAccount: 'primary',
            reason: { code: 'TIMEOUT', message: 'no answer', retriable: false },
          },
        },
        wakeAt: NOW + options.reconcileDelayMs,
      });
  });

  it('waits for a claim another dispatcher holds, and calls it lost after its deadline', () => {
    given(accepted())
      .when({ kind: 'claimedElsewhere', account: 'primary', deadline: NOW + 1_000 })
      .then({ wakeAt: NOW + 1_100 });
    given(accepted())
      .when({ kind: 'claimedElsewhere', account: 'primary', deadline: NOW - 1 })
      .thenMatches((step) => {
        assert.equal(step.command?.type, 'RecordUncertain');
        assert.equal(step.wakeAt, NOW + options.reconcileDelayMs);
      });
  });

  it('fails over from an account this deployment does not know, and fails when none is left', () => {
    given(accepted())
      .when({ kind: 'unknownAccount', account: 'primary' })
      .thenMatches((step) => assert.equal(step.command?.type, 'RecordFailover'));
    given(accepted({ suppliers: ['primary'] }))
      .when({ kind: 'unknownAccount', account: 'primary' })
      .thenMatches((step) => assert.equal(step.command?.type, 'RecordFailure'));
  });
});
