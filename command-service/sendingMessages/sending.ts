// Accepting one message: sendMessage (POST /v1/messages) and, for each
// recipient of a batch, acceptRecipient.
import { randomUUID } from 'node:crypto';
import {
  checkNotOptedOut,
  checkParams,
  checkSendAt,
  checkSendable,
  fillPlaceholders,
  quietUntil,
  type ExistingTemplate,
  type Params,
  type Route,
} from '../../domain/index.ts';
import type { Principal } from '../../platform/auth/index.ts';
import type { Reservation } from '../../platform/rateLimits/index.ts';
import type { CommandDeps } from '../deps.ts';
import type { Meta } from '../commandHandling/index.ts';
import { loadTemplate } from '../managingTemplates/index.ts';
import { checkStatusCallback } from '../managingCallbacks/index.ts';
import { platformLimitsFor, tenantState, type Prefetched } from '../managingTenants/index.ts';
import {
  appendAccepted,
  approvedRoutes,
  e164Of,
  earlierAnswer,
  firstEvents,
  fittingRoutes,
  fromTemplate,
  idempotentMessageId,
  measure,
  optOutStates,
  requestHash,
  reserveEach,
  type AcceptedAnswer,
} from './accepting.ts';

export interface SendInput {
  templateCode: string;
  mobile: string;
  params?: Params;
  idempotencyKey?: string | undefined;
  /** RFC 3339, in the future and at most 30 days ahead. */
  sendAt?: string | undefined;
  /** A URL told of this message's status changes (processors/callbacks). */
  statusCallback?: string | undefined;
}

export type SendAnswer = AcceptedAnswer & {
  repeated: boolean;
  sendAt?: string;
  notBefore?: string;
};

/**
 * 1. the caller owns the template (or is admin) and the fields of the request
 * are well formed; then acceptRecipient, which owns the order of every check
 * of the recipient (params before the template's review). With an Idempotency-Key the message id is derived from
 * (tenant, key), so a repeat meets an existing stream and gets the first answer.
 */
export async function sendMessage(
  deps: CommandDeps,
  principal: Principal,
  input: SendInput,
  meta: Meta,
  now = Date.now(),
): Promise<SendAnswer> {
  // 1.
  const { template } = await loadTemplate(deps.eventStore, input.templateCode, principal);
  checkSendable(template, false);
  const sendAt = input.sendAt === undefined ? undefined : checkSendAt(input.sendAt, now);
  const statusCallback =
    input.statusCallback === undefined
      ? undefined
      : checkStatusCallback(deps, input.statusCallback);
  const messageId =
    input.idempotencyKey === undefined
      ? randomUUID()
      : idempotentMessageId(principal.userId, input.idempotencyKey);
  return acceptRecipient(
    deps,
    template,
    () => approvedRoutes(deps, template),
    {
      mobile: input.mobile,
      params: input.params ?? {},
      messageId,
      idempotencyKey: input.idempotencyKey,
      sendAt,
      statusCallback,
    },
    meta,
    now,
    principal.prefetched,
  );
}

export interface Recipient {
  mobile: string;
  params: Params;
  messageId: string;
  /** When the message id was derived from an Idempotency-Key. */
  idempotencyKey?: string | undefined;
  /** Checked already (checkSendAt). */
  sendAt?: string | undefined;
  batch?: { batchId: string; index: number };
  /** Checked already (checkStatusCallback). */
  statusCallback?: string | undefined;
}

/** A scheduled send reserves its limits at send time: nothing now. */
const NOTHING_RESERVED: Readonly<Reservation> = Object.freeze({ keys: [], kinds: [], token: '' });

/**
 * When a message may go: `asked`, the sendAt still ahead of now; `notBefore`, that, or
 * for a marketing template the end of its quiet hours when the send falls inside them.
 */
function sendTimeOf(
  template: ExistingTemplate,
  sendAt: string | undefined,
  now: number,
): { asked: string | undefined; notBefore: string | undefined } {
  const asked = sendAt !== undefined && Date.parse(sendAt) > now ? sendAt : undefined;
  const quietEnd =
    template.kind === 'marketing' && template.quietHours !== undefined
      ? quietUntil(template.quietHours, asked === undefined ? now : Date.parse(asked))
      : undefined;
  return { asked, notBefore: quietEnd === undefined ? asked : new Date(quietEnd).toISOString() };
}

/** One recipient's outcome: its answer, or what refused it (an AppError or DomainError). */
export type RecipientOutcome = { ok: true; answer: SendAnswer } | { ok: false; error: unknown };

/** A recipient still in the running, with what the steps so far found. */
interface Going {
  index: number;
  recipient: Recipient;
  routes: Route[];
  mobile: string;
  hash: string;
}

/**
 * One message of a sendable template: acceptRecipients of one recipient, its
 * refusal thrown. `prefetched`: the request's Principal.prefetched.
 */
export async function acceptRecipient(
  deps: CommandDeps,
  template: ExistingTemplate,
  approved: readonly Route[] | (() => Promise<readonly Route[]>),
  recipient: Recipient,
  meta: Meta,
  now = Date.now(),
  prefetched?: Prefetched,
): Promise<SendAnswer> {
  const [outcome] = await acceptRecipients(
    deps,
    template,
    approved,
    [recipient],
    meta,
    now,
    prefetched,
  );
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.answer;
}

/** Each recipient's outcome so far; a step refuses the recipients it throws for. */
class Outcomes {
  readonly list: RecipientOutcome[];

  constructor(count: number) {
    this.list = new Array<RecipientOutcome>(count);
  }

  refuse(index: number, error: unknown): void {
    this.list[index] = { ok: false, error };
  }

  /** The items that pass `step` (those it throws for are refused). */
  passing<T extends { index: number }, U>(items: readonly T[], step: (t: T) => U): U[] {
    const out: U[] = [];
    for (const item of items) {
      try {
        out.push(step(item));
      } catch (err) {
        this.refuse(item.index, err);
      }
    }
    return out;
  }
}

/** Steps 2b and 3 for one recipient: the routes that take its values, its E.164 mobile, its hash. */
function going(
  deps: CommandDeps,
  template: ExistingTemplate,
  routesApproved: readonly Route[],
  { recipient, index }: { recipient: Recipient; index: number },
): Going {
  const routes = fittingRoutes(deps, template, routesApproved, recipient.params);
  const mobile = e164Of(recipient.mobile);
  const hash = requestHash({
    templateCode: template.templateCode,
    mobile,
    params: recipient.params,
    sendAt: recipient.sendAt,
    ...(recipient.batch ? { batch: recipient.batch } : {}),
    ...(recipient.statusCallback === undefined ? {} : { statusCallback: recipient.statusCallback }),
  });
  return { index, recipient, routes, mobile, hash };
}

/** Step 4: not opted out (marketing), and a message accepted already answers as it did. */
async function screened(
  deps: CommandDeps,
  template: ExistingTemplate,
  outcomes: Outcomes,
  candidates: Going[],
): Promise<Going[]> {
  // both reads at once: each started after the request came
  const keyed = candidates.filter((g) => g.recipient.idempotencyKey !== undefined);
  const [optOuts, firsts] = await Promise.all([
    optOutStates(
      deps,
      template,
      candidates.map((g) => g.mobile),
    ),
    firstEvents(
      deps,
      keyed.map((g) => g.recipient.messageId),
    ),
  ]);
  const notOptedOut = outcomes.passing(candidates, (g) => {
    const optOut = optOuts.get(g.mobile);
    if (optOut) checkNotOptedOut(template.kind, optOut);
    return g;
  });
  return outcomes
    .passing(notOptedOut, (g) => {
      const earlier = earlierAnswer(firsts.get(g.recipient.messageId), g.hash);
      if (earlier) outcomes.list[g.index] = { ok: true, answer: { ...earlier, repeated: true } };
      return earlier ? undefined : g;
    })
    .filter((g): g is Going => g !== undefined);
}

/**
 * Steps 5 and 6: the tenant may send there and every limit is reserved (a
 * held or scheduled send: at send time), then each recipient's append.
 */
async function reserveAndAppend(
  deps: CommandDeps,
  template: ExistingTemplate,
  outcomes: Outcomes,
  candidates: Going[],
  meta: Meta,
  now: number,
  prefetched: Prefetched | undefined,
): Promise<void> {
  // 5.
  const tenant = await tenantState(deps, template.tenantId, prefetched);
  const allowed = outcomes.passing(candidates, (g) => {
    const platform = platformLimitsFor(deps, tenant, template, g.mobile);
    return { ...g, platform, time: sendTimeOf(template, g.recipient.sendAt, now) };
  });
  const sendingNow = allowed.filter((g) => g.time.notBefore === undefined);
  const reserved = reserveEach(
    deps,
    template,
    sendingNow.map((g) => ({ e164: g.mobile, platform: g.platform })),
    now,
  );
  const reservationOf = new Map(sendingNow.map((g, i) => [g.index, reserved[i]!]));
  // 6. each as soon as its limits are reserved (Redis reserves the later
  // recipients while the event store writes the first), the recipients of one
  // script call in the same tick, so that the event store writes them together
  const done = await Promise.allSettled(
    allowed.map(async (g): Promise<RecipientOutcome> => {
      const pending = reservationOf.get(g.index);
      const reservation = pending === undefined ? NOTHING_RESERVED : await pending;
      if (reservation instanceof Error) return { ok: false, error: reservation };
      return {
        ok: true,
        answer: await appendOne(deps, template, g, g.time, reservation, meta, now),
      };
    }),
  );
  allowed.forEach((g, i) => {
    const d = done[i]!;
    outcomes.list[g.index] = d.status === 'fulfilled' ? d.value : { ok: false, error: d.reason };
  });
}

/**
 * Messages of a sendable template, each on its own (a single send is one, a
 * batch up to 1,000), each step done for all of them at once: one read, one
 * Redis script call per 200, appends that the event store group-commits. Per
 * recipient, in this order: 2. params match the placeholders (the caller's
 * own mistake first: PARAMS_MISMATCH even while a new revision waits for its
 * review), then an approved account takes the values (`approved` is asked
 * only then; a batch passes the routes it loaded once); 3. the mobile is
 * valid (E.164); 4. marketing: not opted out; with an Idempotency-Key, a
 * message accepted already answers as it did; 5. the tenant may send there,
 * and every limit is reserved at once, all or nothing (a scheduled send:
 * only whether the tenant may send there; its limits are reserved at send
 * time); 6. `sms.accepted.v1` appended. A recipient refused at a step goes
 * no further; the others go on. A marketing send that falls inside the
 * template's quiet hours (at sendAt, or now) is held until they end:
 * notBefore is their end, and its limits are reserved at send time too.
 * Rejects (for all) only when a store cannot answer.
 */
export async function acceptRecipients(
  deps: CommandDeps,
  template: ExistingTemplate,
  approved: readonly Route[] | (() => Promise<readonly Route[]>),
  recipients: readonly Recipient[],
  meta: Meta,
  now = Date.now(),
  prefetched?: Prefetched,
): Promise<RecipientOutcome[]> {
  const outcomes = new Outcomes(recipients.length);
  // 2.
  const withParams = outcomes.passing(
    recipients.map((recipient, index) => ({ recipient, index })),
    (r) => (checkParams(template.placeholders, r.recipient.params), r),
  );
  if (withParams.length === 0) return outcomes.list;
  const routesApproved = typeof approved === 'function' ? await approved() : approved;
  // 2b. and 3.
  const candidates = outcomes.passing(withParams, (r) => going(deps, template, routesApproved, r));
  // 4.
  const fresh = await screened(deps, template, outcomes, candidates);
  if (fresh.length === 0) return outcomes.list;
  // 5. and 6.
  await reserveAndAppend(deps, template, outcomes, fresh, meta, now, prefetched);
  return outcomes.list;
}

/** Step 6 of one recipient: its `sms.accepted.v1`, the reservation given back if that fails. */
async function appendOne(
  deps: CommandDeps,
  template: ExistingTemplate,
  g: Going,
  time: { asked: string | undefined; notBefore: string | undefined },
  reservation: Reservation,
  meta: Meta,
  now: number,
): Promise<SendAnswer> {
  const { recipient, mobile } = g;
  const params = recipient.params;
  const { asked, notBefore } = time;
  const scheduled = notBefore !== undefined;
  const { segments, encoding } = measure(template, params);
  const answer = await appendAccepted(
    deps,
    {
      messageId: recipient.messageId,
      ...fromTemplate(template, g.routes),
      mobile,
      content: fillPlaceholders(template.content, params),
      params: { ...params },
      segments,
      encoding,
      requestHash: g.hash,
      ...(recipient.idempotencyKey === undefined
        ? {}
        : { idempotencyKey: recipient.idempotencyKey }),
      ...(recipient.statusCallback === undefined
        ? {}
        : { statusCallback: recipient.statusCallback }),
      acceptedAt: new Date(now).toISOString(),
      ...(asked === undefined ? {} : { sendAt: asked }),
      ...(scheduled ? { notBefore, limitsAtSend: true } : {}),
      ...(recipient.batch
        ? { batchId: recipient.batch.batchId, batchIndex: recipient.batch.index }
        : {}),
    },
    reservation,
    meta,
  );
  return {
    ...answer,
    ...(asked === undefined ? {} : { sendAt: asked }),
    ...(notBefore === undefined ? {} : { notBefore }),
  };
}
