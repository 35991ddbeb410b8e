// The Verification aggregate, stream `verification-<templateCode>-<mobile digest>`.
// Only hashes of codes are stored; a new issue replaces the previous code.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireInteger, requireIsoTime, requireText } from '../checks/index.ts';

export const verificationStream = (templateCode: string, mobileDigest: string): string =>
  `verification-${templateCode}-${mobileDigest}`;

/** A keyed digest of the E.164 number for stream names, so streams do not reveal numbers. */
export function digestMobile(e164: string, key: string): string {
  return createHmac('sha256', key).update(e164).digest('hex').slice(0, 32);
}

export type VerificationIssued = Event<
  'verification.issued.v1',
  {
    verificationId: string;
    messageId: string;
    templateCode: string;
    codeHash: string;
    expiresAt: string;
    maxAttempts: number;
  }
>;
export type VerificationCheckFailed = Event<
  'verification.check-failed.v1',
  { verificationId: string; attemptsLeft: number }
>;
export type VerificationVerified = Event<'verification.verified.v1', { verificationId: string }>;
export type VerificationEvent = VerificationIssued | VerificationCheckFailed | VerificationVerified;

export type IssueVerification = { type: 'Issue'; data: VerificationIssued['data'] };
export type CheckVerification = { type: 'Check'; data: { codeHash: string; now: Date | string } };
export type VerificationCommand = IssueVerification | CheckVerification;

export type VerificationState =
  | { exists: false }
  | {
      exists: true;
      verificationId: string;
      messageId: string;
      templateCode: string;
      codeHash: string;
      expiresAt: string;
      maxAttempts: number;
      attemptsLeft: number;
      used: boolean;
    };

export type CheckOutcome = 'valid' | 'wrong' | 'expired' | 'exhausted' | 'used' | 'none';
export type CheckResult = {
  events: VerificationEvent[];
  outcome: CheckOutcome;
  // attempts left after this check (0 when none apply)
  attemptsLeft: number;
};

// Error code for each outcome a caller must refuse; valid has none.
export const checkOutcomeErrors: Record<Exclude<CheckOutcome, 'valid'>, string> = {
  wrong: 'VERIFICATION_CODE_WRONG',
  expired: 'VERIFICATION_EXPIRED',
  exhausted: 'VERIFICATION_ATTEMPTS_EXHAUSTED',
  used: 'VERIFICATION_ALREADY_USED',
  none: 'VERIFICATION_NOT_FOUND',
};

const utf8 = new TextEncoder();

function sameHash(a: string, b: string): boolean {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  if (x.length !== y.length) {
    timingSafeEqual(x, x); // same work either way
    return false;
  }
  return timingSafeEqual(x, y);
}

function toMillis(now: Date | string): number {
  const ms = now instanceof Date ? now.getTime() : Date.parse(now);
  if (Number.isNaN(ms)) {
    throw new DomainError('VALIDATION_FAILED', 'now must be a valid date.', { field: 'now' });
  }
  return ms;
}

/**
 * Checks a code hash at `now`. Order: none, used, expired, exhausted, then the
 * hash is compared in constant time: valid → verified event; wrong →
 * check-failed with the attempts left (the last wrong attempt leaves 0, and
 * later checks are 'exhausted').
 */
export function checkVerification(
  state: VerificationState,
  codeHash: string,
  now: Date | string,
): CheckResult {
  if (!state.exists) return { events: [], outcome: 'none', attemptsLeft: 0 };
  const left = state.attemptsLeft;
  if (state.used) return { events: [], outcome: 'used', attemptsLeft: left };
  if (toMillis(now) >= Date.parse(state.expiresAt)) {
    return { events: [], outcome: 'expired', attemptsLeft: left };
  }
  if (left <= 0) return { events: [], outcome: 'exhausted', attemptsLeft: 0 };
  const { verificationId } = state;
  if (typeof codeHash === 'string' && sameHash(codeHash, state.codeHash)) {
    return {
      events: [{ type: 'verification.verified.v1', data: { verificationId } }],
      outcome: 'valid',
      attemptsLeft: left,
    };
  }
  return {
    events: [
      { type: 'verification.check-failed.v1', data: { verificationId, attemptsLeft: left - 1 } },
    ],
    outcome: 'wrong',
    attemptsLeft: left - 1,
  };
}

function decide(command: VerificationCommand, state: VerificationState): VerificationEvent[] {
  switch (command.type) {
    case 'Issue': {
      const d = command.data;
      return [
        {
          type: 'verification.issued.v1',
          data: {
            verificationId: requireText(d.verificationId, 'verificationId'),
            messageId: requireText(d.messageId, 'messageId'),
            templateCode: requireText(d.templateCode, 'templateCode'),
            codeHash: requireText(d.codeHash, 'codeHash'),
            expiresAt: requireIsoTime(d.expiresAt, 'expiresAt'),
            maxAttempts: requireInteger(d.maxAttempts, 'maxAttempts', 1),
          },
        },
      ];
    }
    case 'Check':
      return checkVerification(state, command.data.codeHash, command.data.now).events;
  }
}

function evolve(state: VerificationState, event: VerificationEvent): VerificationState {
  switch (event.type) {
    case 'verification.issued.v1':
      return {
        exists: true,
        ...event.data,
        attemptsLeft: event.data.maxAttempts,
        used: false,
      };
    case 'verification.check-failed.v1':
      if (!state.exists || state.verificationId !== event.data.verificationId) return state;
      return { ...state, attemptsLeft: event.data.attemptsLeft };
    case 'verification.verified.v1':
      if (!state.exists || state.verificationId !== event.data.verificationId) return state;
      return { ...state, used: true };
    default:
      return state;
  }
}

export const verificationDecider: Decider<
  VerificationCommand,
  VerificationState,
  VerificationEvent
> = { decide, evolve, initialState: () => ({ exists: false }) };
