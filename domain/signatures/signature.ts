// The Signature aggregate, stream `signature-<tenantId>-<hash of name>`: the
// 【name】 a tenant sends with, and its review at each supplier account.
// The name is reserved for one tenant by a stream of its own
// (`signature-name-<hash>`, appended with "no stream" expected), so another
// tenant can neither register nor send with it.
import { createHash } from 'node:crypto';
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireText, requireTextList } from '../checks/index.ts';

const nameHash = (name: string): string =>
  createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);

export const signatureStream = (tenantId: string, name: string): string =>
  `signature-${tenantId}-${nameHash(name)}`;
export const signatureNameStream = (name: string): string => `signature-name-${nameHash(name)}`;

// Aliyun: 2–12 characters; Tencent: 2–12 as well for mainland signatures.
export const MAX_SIGNATURE_LENGTH = 12;

export type ReviewStatus = 'pending' | 'approved' | 'rejected';

// events ------------------------------------------------------------------
export type SignatureRegistered = Event<
  'signature.registered.v1',
  { tenantId: string; name: string; accounts: string[] }
>;
export type SignatureAccountsAdded = Event<
  'signature.accounts-added.v1',
  { name: string; accounts: string[] }
>;
/** The vendor took the application; its review is pending. */
export type SignatureSubmitted = Event<
  'signature.submitted.v1',
  { name: string; account: string; vendorSignId?: string }
>;
export type SignatureReviewed = Event<
  'signature.reviewed.v1',
  { name: string; account: string; status: 'approved' | 'rejected'; reason?: string }
>;
export type SignatureEvent =
  SignatureRegistered | SignatureAccountsAdded | SignatureSubmitted | SignatureReviewed;

// commands ----------------------------------------------------------------
export type RegisterSignature = {
  type: 'RegisterSignature';
  data: { tenantId: string; name: string; accounts: string[] };
};
export type RecordSignatureSubmission = {
  type: 'RecordSignatureSubmission';
  data: { account: string; vendorSignId?: string };
};
export type RecordSignatureReview = {
  type: 'RecordSignatureReview';
  data: { account: string; status: 'approved' | 'rejected'; reason?: string };
};
export type SignatureCommand =
  RegisterSignature | RecordSignatureSubmission | RecordSignatureReview;

// state -------------------------------------------------------------------
export type SignatureReview = {
  status: ReviewStatus;
  /** false until the vendor took the application */
  submitted: boolean;
  vendorSignId?: string;
  reason?: string;
};
export type ExistingSignature = {
  exists: true;
  tenantId: string;
  name: string;
  accounts: string[];
  reviews: Record<string, SignatureReview>;
};
export type SignatureState = { exists: false } | ExistingSignature;

/** Checks a signature name as both vendors accept it: 2–12 characters, no 【】. */
export function validateSignatureName(raw: unknown): string {
  const name = typeof raw === 'string' ? raw.trim() : '';
  const length = [...name].length;
  if (length < 2 || length > MAX_SIGNATURE_LENGTH) {
    throw new DomainError(
      'SIGNATURE_INVALID',
      `A signature has 2 to ${MAX_SIGNATURE_LENGTH} characters; this one has ${length}.`,
      { field: 'name', reason: 'LENGTH' },
    );
  }
  if (/[【】[\]]/.test(name)) {
    throw new DomainError(
      'SIGNATURE_INVALID',
      'Give the signature without 【】; they are added when the message is sent.',
      { field: 'name', reason: 'BRACKETS' },
    );
  }
  return name;
}

function requireExisting(state: SignatureState): ExistingSignature {
  if (!state.exists) throw new DomainError('SIGNATURE_NOT_FOUND', 'No such signature.');
  return state;
}

function requireAccount(state: ExistingSignature, account: string): SignatureReview {
  const review = state.reviews[account];
  if (!review) {
    throw new DomainError(
      'UNKNOWN_SUPPLIER',
      `The signature is not registered with account ${account}.`,
      { account },
    );
  }
  return review;
}

function decide(command: SignatureCommand, state: SignatureState): SignatureEvent[] {
  switch (command.type) {
    case 'RegisterSignature': {
      const name = validateSignatureName(command.data.name);
      const accounts = requireTextList(command.data.accounts, 'accounts');
      if (!state.exists) {
        const tenantId = requireText(command.data.tenantId, 'tenantId');
        if (accounts.length === 0) {
          throw new DomainError('VALIDATION_FAILED', 'accounts must name at least one account.', {
            field: 'accounts',
          });
        }
        return [{ type: 'signature.registered.v1', data: { tenantId, name, accounts } }];
      }
      if (state.tenantId !== command.data.tenantId) {
        throw new DomainError('SIGNATURE_TAKEN', `Signature ${name} belongs to another tenant.`);
      }
      // registering again adds the accounts it did not have; the same request changes nothing
      const added = accounts.filter((a) => !state.accounts.includes(a));
      if (added.length === 0) return [];
      return [{ type: 'signature.accounts-added.v1', data: { name: state.name, accounts: added } }];
    }
    case 'RecordSignatureSubmission': {
      const current = requireExisting(state);
      const review = requireAccount(current, command.data.account);
      if (review.submitted) return [];
      return [
        {
          type: 'signature.submitted.v1',
          data: {
            name: current.name,
            account: command.data.account,
            ...(command.data.vendorSignId ? { vendorSignId: command.data.vendorSignId } : {}),
          },
        },
      ];
    }
    case 'RecordSignatureReview': {
      const current = requireExisting(state);
      const review = requireAccount(current, command.data.account);
      const { status, reason } = command.data;
      if (review.status === status && review.reason === reason) return [];
      return [
        {
          type: 'signature.reviewed.v1',
          data: {
            name: current.name,
            account: command.data.account,
            status,
            ...(reason ? { reason } : {}),
          },
        },
      ];
    }
  }
}

const fresh = (): SignatureReview => ({ status: 'pending', submitted: false });

function evolve(state: SignatureState, event: SignatureEvent): SignatureState {
  switch (event.type) {
    case 'signature.registered.v1': {
      const d = event.data;
      return {
        exists: true,
        tenantId: d.tenantId,
        name: d.name,
        accounts: [...d.accounts],
        reviews: Object.fromEntries(d.accounts.map((a) => [a, fresh()])),
      };
    }
    case 'signature.accounts-added.v1': {
      if (!state.exists) return state;
      const reviews = { ...state.reviews };
      for (const a of event.data.accounts) reviews[a] ??= fresh();
      return {
        ...state,
        accounts: [
          ...state.accounts,
          ...event.data.accounts.filter((a) => !state.accounts.includes(a)),
        ],
        reviews,
      };
    }
    case 'signature.submitted.v1': {
      if (!state.exists) return state;
      const d = event.data;
      const before = state.reviews[d.account] ?? fresh();
      return {
        ...state,
        reviews: {
          ...state.reviews,
          [d.account]: {
            ...before,
            submitted: true,
            ...(d.vendorSignId ? { vendorSignId: d.vendorSignId } : {}),
          },
        },
      };
    }
    case 'signature.reviewed.v1': {
      if (!state.exists) return state;
      const d = event.data;
      const before = state.reviews[d.account] ?? fresh();
      const { reason: _old, ...rest } = before;
      return {
        ...state,
        reviews: {
          ...state.reviews,
          [d.account]: {
            ...rest,
            submitted: true,
            status: d.status,
            ...(d.reason ? { reason: d.reason } : {}),
          },
        },
      };
    }
    default:
      return state;
  }
}

export const signatureDecider: Decider<SignatureCommand, SignatureState, SignatureEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};

/** The accounts where the signature is approved. */
export function approvedSignatureAccounts(state: SignatureState): string[] {
  if (!state.exists) return [];
  return state.accounts.filter((a) => state.reviews[a]?.status === 'approved');
}
