// The dispatcher's decisions, pure: given a message's state and what just
// happened to it (nothing yet, the send-time check, the account's breaker, a
// claim held by another process, the supplier's answer), what to append
// (`command`), when to look at the message again (`wakeAt`, a durable timer),
// and which effect the consumer (dispatcher.ts) performs next (`effect`).
// Tested with given/when/then in dispatchPolicy.unit.spec.ts; dispatcher.ts
// only performs effects, appends and schedules.
import type { ExistingMessage, FailureReason, MessageCommand } from '../domain/messages/index.ts';
import type { SendOutcome } from '../suppliers/index.ts';
import { backoffMs, candidates, currentAccount, nextAccount } from './routing.ts';

/** What just happened to the message. */
export type Outcome =
  /** Freshly loaded: nothing tried in this round yet. */
  | { kind: 'loaded' }
  /** The send-time check of a scheduled send (limits, opt-out, template). */
  | { kind: 'checked'; ok: true }
  | { kind: 'checked'; ok: false; reason: FailureReason }
  /** The chosen account is not configured in this deployment. */
  | { kind: 'unknownAccount'; account: string }
  /** The account's circuit breaker is open. */
  | { kind: 'breakerOpen'; account: string }
  /** Another dispatcher holds this attempt's claim until `deadline` (ms). */
  | { kind: 'claimedElsewhere'; account: string; deadline: number }
  /** The supplier answered (or did not). */
  | { kind: 'sent'; account: string; outcome: SendOutcome };

/** What the consumer performs before the next decision. */
export type Effect = { kind: 'check' } | { kind: 'send'; account: string };

export interface Step {
  /** Append this command to the message's stream. */
  command?: MessageCommand;
  /** Look at the message again at this time (ms epoch): a durable timer. */
  wakeAt?: number;
  /** Perform this, then ask nextStep again with its outcome. */
  effect?: Effect;
  /** After the command, load the message and decide again at once. */
  again?: boolean;
  /** Before a RecordSubmission: write the receipts' and replies' look-ups (sharedId: a batch call's id). */
  lookups?: { sharedId: boolean };
}

export interface PolicyOptions {
  now: number;
  defaultSuppliers: readonly string[];
  weights: ReadonlyMap<string, number>;
  maxRetriesPerAccount: number;
  retryBaseMs: number;
  retryMaxMs: number;
  breakerCooldownMs: number;
  reconcileDelayMs: number;
  random?: () => number;
}

/** A retry due this soon is sent now rather than put on a timer. */
const RETRY_SLACK_MS = 20;

export function nextStep(s: ExistingMessage, outcome: Outcome, o: PolicyOptions): Step {
  switch (outcome.kind) {
    case 'loaded':
      return whenLoaded(s, o);
    case 'checked':
      return outcome.ok
        ? {
            command: {
              type: 'RecordLimitsReserved',
              data: { reservedAt: new Date(o.now).toISOString() },
            },
            again: true,
          }
        : { command: { type: 'RecordFailure', data: { reason: outcome.reason } } };
    case 'unknownAccount':
      return giveUpOn(s, outcome.account, o, {
        code: 'UNKNOWN_SUPPLIER_ACCOUNT',
        message: `account ${outcome.account} is not configured`,
      });
    case 'breakerOpen':
      return whenBreakerOpen(s, outcome.account, o);
    case 'claimedElsewhere':
      return whenClaimedElsewhere(outcome.account, outcome.deadline, o);
    case 'sent':
      return whenSent(s, outcome.account, outcome.outcome, o);
  }
}

function whenLoaded(s: ExistingMessage, o: PolicyOptions): Step {
  // a scheduled send (sendAt, quiet hours) never leaves before its time
  if (s.notBefore !== undefined) {
    const due = Date.parse(s.notBefore);
    if (due > o.now) return { wakeAt: due };
  }
  // its limits are reserved at send time; a refusal fails it with the rule
  if (!s.limitsReserved) return { effect: { kind: 'check' } };
  // a retry not due yet waits for its timer
  if (s.retryDueAt !== undefined) {
    const due = Date.parse(s.retryDueAt);
    if (due > o.now + RETRY_SLACK_MS) return { wakeAt: due };
  }
  const list = candidates(s, o.defaultSuppliers);
  const account = currentAccount(s, list, o.weights, o.random);
  if (account === undefined) {
    return {
      command: {
        type: 'RecordFailure',
        data: {
          reason: s.lastReason ?? { code: 'NO_SUPPLIER', message: 'no supplier account left' },
        },
      },
    };
  }
  return { effect: { kind: 'send', account } };
}

/** Fail over to the next account, or fail with the reason when none is left. */
function giveUpOn(
  s: ExistingMessage,
  account: string,
  o: PolicyOptions,
  reason: FailureReason,
): Step {
  const next = nextAccount(s, candidates(s, o.defaultSuppliers), [account]);
  if (next) {
    return {
      command: { type: 'RecordFailover', data: { fromAccount: account, toAccount: next, reason } },
      again: true,
    };
  }
  return { command: { type: 'RecordFailure', data: { supplierAccount: account, reason } } };
}

/** Try the same account again later with backoff, on a durable timer; past the retries, give up on it. */
function retryLater(
  s: ExistingMessage,
  account: string,
  o: PolicyOptions,
  reason: FailureReason,
  minDelayMs = 0,
): Step {
  const retries = s.currentAccount === account ? s.accountAttempts : 0;
  if (retries >= o.maxRetriesPerAccount) return giveUpOn(s, account, o, reason);
  const delay = Math.max(minDelayMs, backoffMs(retries, o.retryBaseMs, o.retryMaxMs, o.random));
  const due = o.now + delay;
  return {
    command: {
      type: 'ScheduleRetry',
      data: { supplierAccount: account, dueAt: new Date(due).toISOString(), reason },
    },
    wakeAt: due,
  };
}

/** An open breaker: fail over when another account is left, else wait out the cool-down. */
function whenBreakerOpen(s: ExistingMessage, account: string, o: PolicyOptions): Step {
  const reason = { code: 'BREAKER_OPEN', message: 'circuit breaker open', retriable: true };
  const list = candidates(s, o.defaultSuppliers);
  if (nextAccount(s, list, [account])) return giveUpOn(s, account, o, reason);
  return retryLater(s, account, o, reason, o.breakerCooldownMs);
}

/** Someone else claimed the attempt: wait for it, or treat an abandoned claim as uncertain. */
function whenClaimedElsewhere(account: string, deadline: number, o: PolicyOptions): Step {
  if (o.now < deadline) return { wakeAt: deadline + 100 };
  return {
    command: {
      type: 'RecordUncertain',
      data: {
        supplierAccount: account,
        reason: {
          code: 'DISPATCHER_LOST',
          message: 'a dispatcher stopped in the middle of the call',
          retriable: false,
        },
      },
    },
    wakeAt: o.now + o.reconcileDelayMs,
  };
}

function whenSent(
  s: ExistingMessage,
  account: string,
  outcome: SendOutcome,
  o: PolicyOptions,
): Step {
  switch (outcome.kind) {
    case 'accepted':
      return {
        command: {
          type: 'RecordSubmission',
          data: {
            supplierAccount: account,
            supplierMessageId: outcome.supplierMessageId,
            latencyMs: outcome.latencyMs,
          },
        },
        lookups: { sharedId: outcome.sharedId === true },
      };
    case 'rejected': {
      const reason = { code: outcome.code, message: outcome.message, retriable: false };
      // about the number or its own limits: another supplier would dodge the limit
      if (outcome.recipient) {
        return { command: { type: 'RecordFailure', data: { supplierAccount: account, reason } } };
      }
      return giveUpOn(s, account, o, reason);
    }
    case 'transient':
      return retryLater(s, account, o, {
        code: outcome.code,
        message: outcome.message,
        retriable: true,
      });
    case 'unknown':
      return {
        command: {
          type: 'RecordUncertain',
          data: {
            supplierAccount: account,
            reason: { code: outcome.code, message: outcome.message, retriable: false },
          },
        },
        wakeAt: o.now + o.reconcileDelayMs,
      };
  }
}
