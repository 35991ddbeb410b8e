import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  isFinal,
  receiptMatches,
  messageDecider as decider,
  sameRequest,
  status,
  type MessageCommand,
  type MessageEvent,
  type SmsAcceptedData,
} from './index.ts';

const acceptedData: SmsAcceptedData = {
  messageId: 'm1',
  tenantId: 'acme',
  templateId: 't2',
  templateCode: 'SHIPPED',
  kind: 'notification',
  mobile: '+8613800138000',
  signature: 'Acme',
  content: '【Acme】Order 42 shipped.',
  params: { order: '42' },
  segments: 1,
  encoding: 'UCS-2',
  suppliers: ['aliyun-main', 'tencent-backup', 'cmpp-3'],
  requestHash: 'h1',
  acceptedAt: '2025-01-31T08:00:00.000Z',
};
const reason = { code: 'isv.BUSINESS_LIMIT_CONTROL', message: 'limited', retriable: true };

const accepted: MessageEvent = { type: 'sms.accepted.v1', data: acceptedData };
const submitted: MessageEvent = {
  type: 'sms.submitted.v1',
  data: { messageId: 'm1', supplierAccount: 'aliyun-main', supplierMessageId: 's-1', attempt: 1 },
};
const uncertain: MessageEvent = {
  type: 'sms.submission-uncertain.v1',
  data: {
    messageId: 'm1',
    supplierAccount: 'aliyun-main',
    reason: { code: 'TIMEOUT', message: 'no answer' },
    attempt: 1,
  },
};
const delivered: MessageEvent = {
  type: 'sms.delivered.v1',
  data: {
    messageId: 'm1',
    supplierAccount: 'aliyun-main',
    supplierMessageId: 's-1',
    deliveredAt: '2025-01-31T08:00:05Z',
  },
};
const undelivered: MessageEvent = {
  type: 'sms.undelivered.v1',
  data: {
    messageId: 'm1',
    supplierAccount: 'aliyun-main',
    supplierMessageId: 's-1',
    reason: { code: 'UNDELIV', message: '' },
  },
};
const failedEvent: MessageEvent = {
  type: 'sms.failed.v1',
  data: {
    messageId: 'm1',
    supplierAccount: 'cmpp-3',
    reason: { code: 'REJECTED', message: 'bad number' },
  },
};

const submit: MessageCommand = {
  type: 'RecordSubmission',
  data: { supplierAccount: 'aliyun-main', supplierMessageId: 's-1' },
};
const deliver: MessageCommand = {
  type: 'RecordDelivery',
  data: {
    supplierAccount: 'aliyun-main',
    supplierMessageId: 's-1',
    deliveredAt: '2025-01-31T08:00:05Z',
  },
};
const undeliver: MessageCommand = {
  type: 'RecordUndelivered',
  data: {
    supplierAccount: 'aliyun-main',
    supplierMessageId: 's-1',
    reason: { code: 'UNDELIV', message: '' },
  },
};
const fail: MessageCommand = {
  type: 'RecordFailure',
  data: { supplierAccount: 'cmpp-3', reason: { code: 'REJECTED', message: 'bad number' } },
};
const failover: MessageCommand = {
  type: 'RecordFailover',
  data: { fromAccount: 'aliyun-main', reason },
};
const retry: MessageCommand = {
  type: 'ScheduleRetry',
  data: { supplierAccount: 'aliyun-main', dueAt: '2025-01-31T08:00:10Z', reason },
};
const doubt: MessageCommand = {
  type: 'RecordUncertain',
  data: { supplierAccount: 'aliyun-main', reason: { code: 'TIMEOUT', message: 'no answer' } },
};

describe('Message decider', () => {
  describe('Accept', () => {
    it('accepts a new message, dropping undefined fields', () => {
      given(decider)
        .when({ type: 'Accept', data: { ...acceptedData, idempotencyKey: undefined } })
        .then([accepted]);
    });

    it('answers an idempotent repeat with no events, and a reused key with another body with an error', () => {
      given(decider, [accepted]).when({ type: 'Accept', data: acceptedData }).thenNothing();
      given(decider, [accepted])
        .when({ type: 'Accept', data: { ...acceptedData, requestHash: 'h2' } })
        .thenThrows('IDEMPOTENCY_KEY_REUSED');
      const state = aggregate(decider, [accepted]);
      assert.equal(sameRequest(state, 'h1'), true);
      assert.equal(sameRequest(state, 'h2'), false);
      assert.equal(sameRequest(decider.initialState(), 'h1'), false);
    });

    it('validates the payload', () => {
      given(decider)
        .when({ type: 'Accept', data: { ...acceptedData, segments: 0 } })
        .thenThrows('VALIDATION_FAILED', { field: 'segments' });
      given(decider)
        .when({ type: 'Accept', data: { ...acceptedData, mobile: '' } })
        .thenThrows('VALIDATION_FAILED', { field: 'mobile' });
      given(decider)
        .when({ type: 'Accept', data: { ...acceptedData, acceptedAt: '31/01/2025' } })
        .thenThrows('VALIDATION_FAILED', { field: 'acceptedAt' });
      given(decider)
        .when({ type: 'Accept', data: { ...acceptedData, encoding: 'UTF-8' as 'UCS-2' } })
        .thenThrows('VALIDATION_FAILED', { field: 'encoding' });
    });

    it('requires verification messages to carry the code sealed', () => {
      given(decider)
        .when({
          type: 'Accept',
          data: { ...acceptedData, kind: 'verification', verificationId: 'v1' },
        })
        .thenThrows('VALIDATION_FAILED', { field: 'sealedContent' });
      given(decider)
        .when({
          type: 'Accept',
          data: { ...acceptedData, kind: 'verification', sealedContent: 'gcm:..' },
        })
        .thenThrows('VALIDATION_FAILED', { field: 'verificationId' });
    });
  });

  it('every other command on a missing message is MESSAGE_NOT_FOUND', () => {
    for (const command of [submit, failover, retry, doubt, fail, deliver, undeliver]) {
      given(decider).when(command).thenThrows('MESSAGE_NOT_FOUND');
    }
  });

  describe('dispatching', () => {
    it('records a submission with the attempt number', () => {
      given(decider, [accepted]).when(submit).then([submitted]);
      const state = aggregate(decider, [accepted, submitted]);
      assert.equal(status(state), 'submitted');
      assert.equal(isFinal(state), false);
    });

    it('keeps a valid latency and rejects a negative one', () => {
      given(decider, [accepted])
        .when({
          type: 'RecordSubmission',
          data: { ...submit.data, latencyMs: 120 },
        } as MessageCommand)
        .then([{ ...submitted, data: { ...submitted.data, latencyMs: 120 } } as MessageEvent]);
      given(decider, [accepted])
        .when({
          type: 'RecordSubmission',
          data: { ...submit.data, latencyMs: -1 },
        } as MessageCommand)
        .thenThrows('VALIDATION_FAILED', { field: 'latencyMs' });
    });

    it('fails over to the next supplier in template order and tracks tried accounts', () => {
      const failedOver: MessageEvent = {
        type: 'sms.failed-over.v1',
        data: { messageId: 'm1', fromAccount: 'aliyun-main', toAccount: 'tencent-backup', reason },
      };
      given(decider, [accepted]).when(failover).then([failedOver]);
      const state = aggregate(decider, [accepted, failedOver]);
      assert.ok(state.exists);
      assert.equal(state.status, 'accepted');
      assert.equal(state.supplierIndex, 1);
      assert.equal(state.currentAccount, 'tencent-backup');
      assert.deepEqual(state.triedAccounts, ['aliyun-main']);
      assert.equal(state.attempts, 1);
    });

    it('fails over to an explicit target, and with none left names no target', () => {
      const toThird: MessageEvent = {
        type: 'sms.failed-over.v1',
        data: { messageId: 'm1', fromAccount: 'aliyun-main', toAccount: 'cmpp-3', reason },
      };
      given(decider, [accepted])
        .when({
          type: 'RecordFailover',
          data: { fromAccount: 'aliyun-main', toAccount: 'cmpp-3', reason },
        })
        .then([toThird]);
      const state = aggregate(decider, [accepted, toThird]);
      assert.ok(state.exists);
      assert.equal(state.supplierIndex, 2);
      given(decider, [accepted, toThird])
        .when({ type: 'RecordFailover', data: { fromAccount: 'cmpp-3', reason } })
        .then([
          { type: 'sms.failed-over.v1', data: { messageId: 'm1', fromAccount: 'cmpp-3', reason } },
        ]);
    });

    it('schedules a retry, counting attempts on the account', () => {
      const scheduled: MessageEvent = {
        type: 'sms.retry-scheduled.v1',
        data: {
          messageId: 'm1',
          supplierAccount: 'aliyun-main',
          attempt: 1,
          dueAt: '2025-01-31T08:00:10Z',
          reason,
        },
      };
      given(decider, [accepted]).when(retry).then([scheduled]);
      const second = { ...scheduled, data: { ...scheduled.data, attempt: 2 } };
      given(decider, [accepted, scheduled]).when(retry).then([second]);
      const state = aggregate(decider, [accepted, scheduled, second]);
      assert.ok(state.exists);
      assert.equal(state.status, 'accepted');
      assert.equal(state.accountAttempts, 2);
      assert.equal(state.retryDueAt, '2025-01-31T08:00:10Z');
      given(decider, [accepted])
        .when({
          type: 'ScheduleRetry',
          data: { ...(retry.data as object), dueAt: 'soon' } as never,
        })
        .thenThrows('VALIDATION_FAILED', { field: 'dueAt' });
    });

    it('records an uncertain outcome; a duplicate is a no-op', () => {
      given(decider, [accepted]).when(doubt).then([uncertain]);
      given(decider, [accepted, uncertain]).when(doubt).thenNothing();
      assert.equal(status(aggregate(decider, [accepted, uncertain])), 'uncertain');
    });

    it('reconciles an uncertain message to submitted, without counting a new call', () => {
      given(decider, [accepted, uncertain])
        .when(submit)
        .then([
          {
            type: 'sms.submitted.v1',
            data: {
              messageId: 'm1',
              supplierAccount: 'aliyun-main',
              supplierMessageId: 's-1',
              attempt: 1,
              reconciled: true,
            },
          },
        ]);
    });

    it('fails from accepted or uncertain', () => {
      given(decider, [accepted]).when(fail).then([failedEvent]);
      given(decider, [accepted, uncertain]).when(fail).then([failedEvent]);
      assert.equal(isFinal(aggregate(decider, [accepted, failedEvent])), true);
    });

    it('an uncertain message is never failed over or retried blindly', () => {
      given(decider, [accepted, uncertain]).when(failover).thenNothing();
      given(decider, [accepted, uncertain]).when(retry).thenNothing();
    });

    it('fails over out of uncertain when the vendor refused the re-send, and dispatches again', () => {
      const refused: MessageCommand = {
        type: 'RecordFailover',
        data: {
          fromAccount: 'aliyun-main',
          toAccount: 'tencent-backup',
          reason,
          refusedResend: true,
        },
      };
      const failedOverOut: MessageEvent = {
        type: 'sms.failed-over.v1',
        data: {
          messageId: 'm1',
          fromAccount: 'aliyun-main',
          toAccount: 'tencent-backup',
          reason,
          refusedResend: true,
        },
      };
      given(decider, [accepted, uncertain]).when(refused).then([failedOverOut]);
      const state = aggregate(decider, [accepted, uncertain, failedOverOut]);
      assert.equal(status(state), 'accepted');
      assert.equal(state.exists && state.currentAccount, 'tencent-backup');
      // once submitted, the flag opens nothing: a submitted message is not failed over
      given(decider, [accepted, submitted]).when(refused).thenNothing();
    });

    it('rejects a reason without a code', () => {
      given(decider, [accepted])
        .when({ type: 'RecordFailure', data: { reason: { code: '', message: '' } } })
        .thenThrows('VALIDATION_FAILED', { field: 'reason' });
    });
  });

  describe('receipts', () => {
    it('delivers or undelivers a submitted message', () => {
      given(decider, [accepted, submitted]).when(deliver).then([delivered]);
      given(decider, [accepted, submitted]).when(undeliver).then([undelivered]);
      const state = aggregate(decider, [accepted, submitted, delivered]);
      assert.equal(status(state), 'delivered');
      assert.equal(isFinal(state), true);
    });

    it('applies a receipt that arrives before the submission, and then ignores the submission', () => {
      given(decider, [accepted]).when(deliver).then([delivered]);
      given(decider, [accepted, uncertain]).when(undeliver).then([undelivered]);
      given(decider, [accepted, delivered]).when(submit).thenNothing();
    });

    it('ignores duplicate and late receipts once final', () => {
      given(decider, [accepted, submitted, delivered]).when(deliver).thenNothing();
      given(decider, [accepted, submitted, delivered]).when(undeliver).thenNothing();
      given(decider, [accepted, submitted, undelivered]).when(deliver).thenNothing();
      given(decider, [accepted, failedEvent]).when(deliver).thenNothing();
      given(decider, [accepted, failedEvent]).when(undeliver).thenNothing();
    });
  });

  describe('never moves backwards', () => {
    const after: Array<[string, MessageEvent[]]> = [
      ['submitted', [accepted, submitted]],
      ['delivered', [accepted, submitted, delivered]],
      ['undelivered', [accepted, submitted, undelivered]],
      ['failed', [accepted, failedEvent]],
    ];
    for (const [name, history] of after) {
      it(`ignores dispatch outcomes once ${name}`, () => {
        for (const command of [submit, failover, retry, doubt, fail]) {
          given(decider, history).when(command).thenNothing();
        }
      });
    }
  });

  it('tracks the whole dispatch history in state', () => {
    const state = aggregate(decider, [
      accepted,
      {
        type: 'sms.retry-scheduled.v1',
        data: {
          messageId: 'm1',
          supplierAccount: 'aliyun-main',
          attempt: 1,
          dueAt: '2025-01-31T08:00:10Z',
          reason,
        },
      },
      {
        type: 'sms.failed-over.v1',
        data: { messageId: 'm1', fromAccount: 'aliyun-main', toAccount: 'tencent-backup', reason },
      },
      {
        type: 'sms.submitted.v1',
        data: { messageId: 'm1', supplierAccount: 'tencent-backup', supplierMessageId: 'tx-9' },
      },
      {
        type: 'sms.delivered.v1',
        data: {
          messageId: 'm1',
          supplierAccount: 'tencent-backup',
          supplierMessageId: 'tx-9',
          deliveredAt: '2025-01-31T08:01:00Z',
        },
      },
    ]);
    assert.deepEqual(state, {
      exists: true,
      messageId: 'm1',
      accepted: acceptedData,
      status: 'delivered',
      attempts: 3,
      supplierIndex: 1,
      currentAccount: 'tencent-backup',
      accountAttempts: 1,
      triedAccounts: ['aliyun-main', 'tencent-backup'],
      retryDueAt: undefined,
      supplierAccount: 'tencent-backup',
      supplierMessageId: 'tx-9',
      lastReason: reason,
      deliveredAt: '2025-01-31T08:01:00Z',
      notBefore: undefined,
      limitsReserved: true,
      cancelledAt: undefined,
    });
    assert.equal(status(decider.initialState()), undefined);
    assert.equal(isFinal(decider.initialState()), false);
  });
});

describe('expiry and receipts bound to their message', () => {
  const expiry: MessageCommand = {
    type: 'RecordExpiry',
    data: {
      expiredAt: '2025-02-03T08:00:00Z',
      reason: { code: 'STATUS_UNKNOWN', message: 'no receipt' },
    },
  };
  const expired: MessageEvent = {
    type: 'sms.expired.v1',
    data: {
      messageId: 'm1',
      supplierAccount: 'aliyun-main',
      supplierMessageId: 's-1',
      expiredAt: '2025-02-03T08:00:00Z',
      reason: { code: 'STATUS_UNKNOWN', message: 'no receipt' },
    },
  };

  it('expires a submitted message still without status; it is final', () => {
    given(decider, [accepted, submitted]).when(expiry).then([expired]);
    assert.ok(isFinal(aggregate(decider, [accepted, submitted, expired])));
    assert.equal(status(aggregate(decider, [accepted, submitted, expired])), 'expired');
  });

  it('expires an uncertain call too, but never an accepted or closed message', () => {
    given(decider, [accepted, uncertain])
      .when(expiry)
      .then([
        {
          type: 'sms.expired.v1',
          data: {
            messageId: 'm1',
            supplierAccount: 'aliyun-main',
            expiredAt: '2025-02-03T08:00:00Z',
            reason: { code: 'STATUS_UNKNOWN', message: 'no receipt' },
          },
        },
      ]);
    given(decider, [accepted]).when(expiry).thenNothing();
    given(decider, [accepted, submitted, delivered]).when(expiry).thenNothing();
    given(decider, [accepted, submitted, expired]).when(expiry).thenNothing();
  });

  it('a receipt after the expiry still records the delivery', () => {
    given(decider, [accepted, submitted, expired])
      .when({ type: 'RecordDelivery', data: delivered.data })
      .then([delivered]);
    assert.equal(
      status(aggregate(decider, [accepted, submitted, expired, delivered])),
      'delivered',
    );
  });

  it('matches a receipt only from the account that took it, with its vendor id', () => {
    const s = aggregate(decider, [accepted, submitted]);
    assert.equal(receiptMatches(s, 'aliyun-main', 's-1'), 'match');
    assert.equal(receiptMatches(s, 'tencent-backup', 's-1'), 'account-mismatch');
    assert.equal(receiptMatches(s, 'aliyun-main', 's-2'), 'supplier-id-mismatch');
    assert.equal(
      receiptMatches(aggregate(decider, [accepted]), 'aliyun-main', 's-1'),
      'not-submitted',
    );
  });

  it('a submission found by query (no BizId) matches by out_id', () => {
    const byQuery: MessageEvent = {
      type: 'sms.submitted.v1',
      data: {
        messageId: 'm1',
        supplierAccount: 'aliyun-main',
        supplierMessageId: 'outid:m1',
        reconciled: true,
      },
    };
    const s = aggregate(decider, [accepted, uncertain, byQuery]);
    assert.equal(receiptMatches(s, 'aliyun-main', 'biz-9', 'm1'), 'match');
    assert.equal(receiptMatches(s, 'aliyun-main', 'biz-9', 'm2'), 'supplier-id-mismatch');
    assert.equal(receiptMatches(s, 'tencent-backup', 'biz-9', 'm1'), 'account-mismatch');
  });
});
