// POST /v1/messages/batch: one template to up to 1,000 recipients. Each
// recipient is a message of its own with its own limits, accepted or refused
// on its own (one bad number does not fail the rest); the answer lists a
// result per recipient and is recorded (`batch.recorded.v1`), so the same
// request with the same Idempotency-Key gets the same answer and sends
// nothing twice: the recipients' message ids derive from (tenant, key, index).
import { randomUUID } from 'node:crypto';
import {
  batchDecider,
  batchStream,
  checkBatchSize,
  checkRepeat,
  checkSendAt,
  checkSendable,
  DomainError,
  type BatchEvent,
  type BatchItemResult,
  type BatchRecordedData,
  type BatchState,
  type ExistingTemplate,
  type Params,
  type Route,
} from '../../domain/index.ts';
import type { Principal } from '../../platform/auth/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { aggregateStream, type Aggregated } from '../../platform/eventStore/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, type Meta } from '../commandHandling/index.ts';
import { loadTemplate } from '../managingTemplates/index.ts';
import { approvedRoutes, idempotentMessageId, requestHash } from './accepting.ts';
import { acceptRecipients } from './sending.ts';
import type { Prefetched } from '../managingTenants/index.ts';

export interface BatchInput {
  templateCode: string;
  recipients: { mobile: string; params?: Params }[];
  sendAt?: string | undefined;
  idempotencyKey?: string | undefined;
}

export type BatchResult = BatchItemResult & { mobile: string };

export interface BatchAnswer {
  batchId: string;
  accepted: number;
  refused: number;
  results: BatchResult[];
}

function answerOf(recorded: BatchRecordedData, input: BatchInput): BatchAnswer {
  return {
    batchId: recorded.batchId,
    accepted: recorded.accepted,
    refused: recorded.refused,
    results: recorded.results.map((r) => ({ ...r, mobile: input.recipients[r.index]!.mobile })),
  };
}

/** What a refusal of one recipient says: its stable code; anything else fails the request. */
function refusalOf(index: number, err: unknown): BatchItemResult {
  if (err instanceof AppError && err.status < 500) {
    return {
      index,
      status: 'refused',
      code: err.code,
      message: err.message,
      ...(err.details ? { details: err.details } : {}),
    };
  }
  if (err instanceof DomainError) {
    return {
      index,
      status: 'refused',
      code: err.code,
      message: err.message,
      ...(err.details ? { details: err.details } : {}),
    };
  }
  throw err;
}

/** The batch stream as read (nothing to read for a batch without a key: its id is new). */
async function recordedBatch(
  deps: CommandDeps,
  batchId: string,
  keyed: boolean,
): Promise<Aggregated<BatchState, BatchEvent>> {
  if (!keyed) {
    return { state: batchDecider.initialState(), events: [], version: -1, expected: 'no_stream' };
  }
  return aggregateStream(deps.eventStore, batchDecider, batchStream(batchId));
}

/**
 * 1. the template is the caller's and enabled, sendAt (if any) in range, the
 * batch 1–1,000 recipients; 2. with a key: a recorded answer for the same
 * request is returned as it was (another request: 422 IDEMPOTENCY_KEY_REUSED);
 * 3. the template is approved somewhere (else the whole batch is refused);
 * 4. each recipient accepted or refused on its own; 5. the answer recorded.
 */
export async function sendBatch(
  deps: CommandDeps,
  principal: Principal,
  input: BatchInput,
  meta: Meta,
  now = Date.now(),
): Promise<BatchAnswer> {
  // 1.
  checkBatchSize(input.recipients.length);
  const { template } = await loadTemplate(deps.eventStore, input.templateCode, principal);
  checkSendable(template, false);
  const sendAt = input.sendAt === undefined ? undefined : checkSendAt(input.sendAt, now);
  const key = input.idempotencyKey;
  const hash = requestHash({
    templateCode: template.templateCode,
    recipients: input.recipients.map((r) => ({ mobile: r.mobile, params: r.params ?? {} })),
    sendAt,
  });
  const batchId =
    key === undefined ? randomUUID() : idempotentMessageId(principal.userId, `batch\n${key}`);
  // 2.
  const loaded = await recordedBatch(deps, batchId, key !== undefined);
  if (loaded.state.exists) {
    checkRepeat(loaded.state.recorded, hash, 'batch');
    return answerOf(loaded.state.recorded, input);
  }
  // 3.
  const approved = await approvedRoutes(deps, template);
  // 4.
  const results = await acceptEach(
    deps,
    template,
    approved,
    input,
    { batchId, key, sendAt },
    meta,
    { tenantId: principal.userId, now, prefetched: principal.prefetched },
  );
  // 5. (the same key at the same time: the answer recorded first is the answer)
  const recorded = await handle(
    deps.eventStore,
    batchDecider,
    batchStream(batchId),
    {
      type: 'RecordBatch',
      data: {
        batchId,
        tenantId: template.tenantId,
        templateCode: template.templateCode,
        requestHash: hash,
        ...(key === undefined ? {} : { idempotencyKey: key }),
        ...(sendAt === undefined ? {} : { sendAt }),
        results,
      },
    },
    meta,
    // read at step 2: the append expects that version (a conflict reads again)
    { loaded },
  );
  if (!recorded.state.exists) throw new Error(`batch ${batchId} was not recorded`);
  return answerOf(recorded.state.recorded, input);
}

/** Step 4: each recipient accepted or refused on its own, every step for all at once. */
async function acceptEach(
  deps: CommandDeps,
  template: ExistingTemplate,
  approved: readonly Route[],
  input: BatchInput,
  batch: { batchId: string; key: string | undefined; sendAt: string | undefined },
  meta: Meta,
  at: { tenantId: string; now: number; prefetched: Prefetched },
): Promise<BatchItemResult[]> {
  const { batchId, key, sendAt } = batch;
  const outcomes = await acceptRecipients(
    deps,
    template,
    approved,
    input.recipients.map((r, i) => ({
      mobile: r.mobile,
      params: r.params ?? {},
      messageId:
        key === undefined ? randomUUID() : idempotentMessageId(at.tenantId, `batch\n${key}\n${i}`),
      idempotencyKey: key === undefined ? undefined : `${key}#${i}`,
      sendAt,
      batch: { batchId, index: i },
    })),
    meta,
    at.now,
    at.prefetched,
  );
  return outcomes.map((outcome, i): BatchItemResult => {
    if (!outcome.ok) return refusalOf(i, outcome.error);
    const answer = outcome.answer;
    return {
      index: i,
      status: 'accepted',
      messageId: answer.messageId,
      segments: answer.segments,
      encoding: answer.encoding,
      position: answer.position,
      ...(answer.sendAt ? { sendAt: answer.sendAt } : {}),
      ...(answer.notBefore ? { notBefore: answer.notBefore } : {}),
    };
  });
}
