// A batch send (POST /v1/messages/batch), stream `batch-<batchId>`: the
// answer given for it, so that the same request with the same Idempotency-Key
// gets the same answer, and another request with that key is refused. Each
// recipient is a message of its own (stream message-<id>, with its own limits).
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireInteger, requireText, withoutUndefined } from '../checks/index.ts';
import { checkRepeat } from './acceptance.ts';

export const batchStream = (batchId: string): string => `batch-${batchId}`;
/** At most this many recipients in one batch. */
export const MAX_BATCH_RECIPIENTS = 1000;

export type BatchItemResult =
  | {
      index: number;
      status: 'accepted';
      messageId: string;
      segments: number;
      encoding: string;
      position: number;
      sendAt?: string;
      notBefore?: string;
    }
  | {
      index: number;
      status: 'refused';
      code: string;
      message: string;
      details?: Record<string, unknown>;
    };

export type BatchRecordedData = {
  batchId: string;
  tenantId: string;
  templateCode: string;
  requestHash: string;
  idempotencyKey?: string;
  sendAt?: string;
  accepted: number;
  refused: number;
  results: BatchItemResult[];
};
export type BatchRecorded = Event<'batch.recorded.v1', BatchRecordedData>;
export type BatchEvent = BatchRecorded;

export type RecordBatch = {
  type: 'RecordBatch';
  data: Omit<BatchRecordedData, 'accepted' | 'refused'>;
};
export type BatchCommand = RecordBatch;

export type BatchState = { exists: false } | { exists: true; recorded: BatchRecordedData };

/** The recipients of a batch: 1 to 1,000, else BATCH_SIZE_INVALID (422). */
export function checkBatchSize(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BATCH_RECIPIENTS) {
    throw new DomainError(
      'BATCH_SIZE_INVALID',
      `A batch has 1 to ${MAX_BATCH_RECIPIENTS} recipients; split larger lists.`,
      { max: MAX_BATCH_RECIPIENTS, count },
    );
  }
}

function decide(command: BatchCommand, state: BatchState): BatchEvent[] {
  const d = command.data;
  if (state.exists) {
    checkRepeat(state.recorded, d.requestHash, 'batch');
    return [];
  }
  checkBatchSize(d.results.length);
  d.results.forEach((r, i) => {
    if (requireInteger(r.index, 'index', 0) !== i) {
      throw new DomainError('VALIDATION_FAILED', 'results must be in recipient order.', {
        field: 'results',
      });
    }
  });
  const accepted = d.results.filter((r) => r.status === 'accepted').length;
  return [
    {
      type: 'batch.recorded.v1',
      data: withoutUndefined({
        batchId: requireText(d.batchId, 'batchId'),
        tenantId: requireText(d.tenantId, 'tenantId'),
        templateCode: requireText(d.templateCode, 'templateCode'),
        requestHash: requireText(d.requestHash, 'requestHash'),
        idempotencyKey: d.idempotencyKey,
        sendAt: d.sendAt,
        accepted,
        refused: d.results.length - accepted,
        results: d.results,
      }),
    },
  ];
}

function evolve(state: BatchState, event: BatchEvent): BatchState {
  if (event.type === 'batch.recorded.v1' && !state.exists) {
    return { exists: true, recorded: event.data };
  }
  return state;
}

export const batchDecider: Decider<BatchCommand, BatchState, BatchEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};
