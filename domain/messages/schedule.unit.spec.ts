// Scheduled sends, cancel and batches in the deciders: given/when/then.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { given } from '../testing/index.ts';
import {
  batchDecider,
  checkSendAt,
  messageDecider as decider,
  type BatchItemResult,
  type MessageEvent,
  type SmsAcceptedData,
} from './index.ts';

const acceptedAt = '2026-12-01T08:00:00.000Z';
const sendAt = '2026-12-01T09:00:00.000Z';
const data: SmsAcceptedData = {
  messageId: 'm1',
  tenantId: 'acme',
  templateId: 't1',
  templateCode: 'SHIPPED',
  kind: 'notification',
  mobile: '+8613800138000',
  content: 'shipped',
  segments: 1,
  encoding: 'UCS-2',
  suppliers: ['ali'],
  requestHash: 'h1',
  acceptedAt,
};
const scheduled: MessageEvent = {
  type: 'sms.accepted.v1',
  data: { ...data, sendAt, notBefore: sendAt, limitsAtSend: true },
};
const now: MessageEvent = { type: 'sms.accepted.v1', data };
const submitted: MessageEvent = {
  type: 'sms.submitted.v1',
  data: { messageId: 'm1', supplierAccount: 'ali', supplierMessageId: 'b1', attempt: 1 },
};
const cancelled: MessageEvent = {
  type: 'sms.cancelled.v1',
  data: { messageId: 'm1', cancelledAt: '2026-12-01T08:30:00.000Z' },
};

describe('sendAt', () => {
  it('is in the future and at most 30 days ahead', () => {
    const t = Date.parse(acceptedAt);
    assert.equal(checkSendAt(sendAt, t), sendAt);
    assert.throws(() => checkSendAt(acceptedAt, t), { code: 'SEND_AT_IN_PAST' });
    assert.throws(() => checkSendAt('2027-01-01T08:00:01Z', t), { code: 'SEND_AT_TOO_FAR' });
    assert.throws(() => checkSendAt('tomorrow', t), { code: 'VALIDATION_FAILED' });
  });
  it('is checked against the time of acceptance when the message is accepted', () => {
    given(decider, [])
      .when({ type: 'Accept', data: { ...data, sendAt: '2026-12-01T07:00:00Z' } })
      .thenThrows('SEND_AT_IN_PAST');
    given(decider, [])
      .when({ type: 'Accept', data: scheduled.data as SmsAcceptedData })
      .then([scheduled]);
  });
});

describe('cancel', () => {
  it('cancels a scheduled message not due yet', () => {
    given(decider, [scheduled])
      .when({ type: 'Cancel', data: { at: '2026-12-01T08:30:00.000Z' } })
      .then([cancelled]);
  });
  it("is the tenant's own: another tenant's message is not found, an admin (no tenant) may cancel any", () => {
    const at = '2026-12-01T08:30:00.000Z';
    given(decider, [scheduled])
      .when({ type: 'Cancel', data: { at, tenantId: 'someone-else' } })
      .thenThrows('MESSAGE_NOT_FOUND');
    given(decider, [scheduled, cancelled])
      .when({ type: 'Cancel', data: { at, tenantId: 'someone-else' } })
      .thenThrows('MESSAGE_NOT_FOUND');
    given(decider, [scheduled])
      .when({ type: 'Cancel', data: { at, tenantId: scheduled.data.tenantId } })
      .then([cancelled]);
    given(decider, []).when({ type: 'Cancel', data: { at } }).thenThrows('MESSAGE_NOT_FOUND');
  });
  it('is idempotent once cancelled', () => {
    given(decider, [scheduled, cancelled])
      .when({ type: 'Cancel', data: { at: '2026-12-01T08:31:00.000Z' } })
      .thenNothing();
  });
  it('refuses a message due within the margin: a dispatcher may hold it', () => {
    given(decider, [scheduled])
      .when({ type: 'Cancel', data: { at: '2026-12-01T08:59:59.500Z' } })
      .thenThrows('MESSAGE_NOT_CANCELLABLE', { status: 'accepted', dispatching: true });
    given(decider, [now])
      .when({ type: 'Cancel', data: { at: acceptedAt } })
      .thenThrows('MESSAGE_NOT_CANCELLABLE', { status: 'accepted', dispatching: true });
  });
  it('refuses a submitted message, naming its status', () => {
    given(decider, [scheduled, submitted])
      .when({ type: 'Cancel', data: { at: '2026-12-01T08:30:00.000Z' } })
      .thenThrows('MESSAGE_NOT_CANCELLABLE', { status: 'submitted' });
  });
  it('leaves a cancelled message final: late outcomes change nothing', () => {
    for (const command of [
      { type: 'RecordSubmission', data: { supplierAccount: 'ali', supplierMessageId: 'b1' } },
      { type: 'RecordFailure', data: { reason: { code: 'X', message: '' } } },
      { type: 'RecordLimitsReserved', data: { reservedAt: sendAt } },
      {
        type: 'RecordDelivery',
        data: { supplierAccount: 'ali', supplierMessageId: 'b1', deliveredAt: sendAt },
      },
    ] as const) {
      given(decider, [scheduled, cancelled]).when(command).thenNothing();
    }
  });
});

describe('limits at send time', () => {
  it('records the reservation once', () => {
    const reserved: MessageEvent = {
      type: 'sms.limits-reserved.v1',
      data: { messageId: 'm1', reservedAt: sendAt },
    };
    given(decider, [scheduled])
      .when({ type: 'RecordLimitsReserved', data: { reservedAt: sendAt } })
      .then([reserved]);
    given(decider, [scheduled, reserved])
      .when({ type: 'RecordLimitsReserved', data: { reservedAt: sendAt } })
      .thenNothing();
    // an immediate send reserved at accept
    given(decider, [now])
      .when({ type: 'RecordLimitsReserved', data: { reservedAt: sendAt } })
      .thenNothing();
  });
});

describe('batch', () => {
  const results: BatchItemResult[] = [
    {
      index: 0,
      status: 'accepted',
      messageId: 'm1',
      segments: 1,
      encoding: 'UCS-2',
      position: 5,
    },
    { index: 1, status: 'refused', code: 'INVALID_MOBILE', message: 'bad' },
  ];
  const record = {
    type: 'RecordBatch' as const,
    data: { batchId: 'b1', tenantId: 'acme', templateCode: 'T1', requestHash: 'h', results },
  };
  const recorded = {
    type: 'batch.recorded.v1' as const,
    data: { ...record.data, accepted: 1, refused: 1 },
  };
  it('records the answer with its counts', () => {
    given(batchDecider, []).when(record).then([recorded]);
  });
  it('answers the same request again with nothing new, and refuses another under its key', () => {
    given(batchDecider, [recorded]).when(record).thenNothing();
    given(batchDecider, [recorded])
      .when({ ...record, data: { ...record.data, requestHash: 'other' } })
      .thenThrows('IDEMPOTENCY_KEY_REUSED');
  });
  it('holds 1 to 1,000 recipients', () => {
    given(batchDecider, [])
      .when({ ...record, data: { ...record.data, results: [] } })
      .thenThrows('BATCH_SIZE_INVALID');
  });
});
