// The Tenant aggregate, stream `tenant-<tenantId>` (a tenant is the member
// user that owns templates: tenantId = userId). It holds what the platform,
// not the tenant, decides about its sending: trial, active or suspended; the
// numbers a trial tenant proved it owns; and the platform limits an admin set
// on top of the template policies (they can only tighten what applies).
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireInteger, requireIsoTime, requireText } from '../checks/index.ts';

export const tenantStream = (tenantId: string): string => `tenant-${tenantId}`;

export type TenantStatus = 'trial' | 'active' | 'suspended';
export const tenantStatuses: readonly TenantStatus[] = ['trial', 'active', 'suspended'];

/** At most this many verified numbers per trial tenant. */
export const MAX_VERIFIED_NUMBERS = 5;
/** Wrong guesses allowed on a number-verification code. */
export const NUMBER_CODE_ATTEMPTS = 5;

/** Platform limits of one tenant; absent fields fall back to the deployment's defaults. */
export type TenantLimits = {
  /** Accepted sends per day (UTC+8), all templates together. */
  maxPerDay?: number;
  /** Accepted sends per second, all templates together. */
  maxPerSecond?: number;
  /** Accepted sends to one mobile per day, all of the tenant's templates together. */
  mobileMaxPerDay?: number;
  /** Country calling codes it may send to, e.g. ["86"]. */
  countries?: string[];
};

export type TenantStarted = Event<'tenant.started.v1', { tenantId: string; status: TenantStatus }>;
export type TenantActivated = Event<'tenant.activated.v1', { tenantId: string }>;
export type TenantSuspended = Event<'tenant.suspended.v1', { tenantId: string; reason?: string }>;
export type TenantLimitsSet = Event<
  'tenant.limits-set.v1',
  { tenantId: string; limits: TenantLimits }
>;
export type TenantNumberCodeSent = Event<
  'tenant.number-code-sent.v1',
  { tenantId: string; mobile: string; codeHash: string; expiresAt: string; messageId: string }
>;
export type TenantNumberCheckFailed = Event<
  'tenant.number-check-failed.v1',
  { tenantId: string; mobile: string; attemptsLeft: number }
>;
export type TenantNumberVerified = Event<
  'tenant.number-verified.v1',
  { tenantId: string; mobile: string }
>;
export type TenantEvent =
  | TenantStarted
  | TenantActivated
  | TenantSuspended
  | TenantLimitsSet
  | TenantNumberCodeSent
  | TenantNumberCheckFailed
  | TenantNumberVerified;

export type TenantCommand =
  | { type: 'StartTenant'; data: { tenantId: string; status: TenantStatus } }
  | { type: 'ActivateTenant'; data: { tenantId: string; startAs: TenantStatus } }
  | { type: 'SuspendTenant'; data: { tenantId: string; startAs: TenantStatus; reason?: string } }
  | {
      type: 'SetTenantLimits';
      data: { tenantId: string; startAs: TenantStatus; limits: TenantLimits };
    }
  | {
      type: 'SendNumberCode';
      data: {
        tenantId: string;
        startAs: TenantStatus;
        mobile: string;
        codeHash: string;
        expiresAt: string;
        messageId: string;
      };
    }
  | {
      type: 'CheckNumberCode';
      data: {
        tenantId: string;
        startAs: TenantStatus;
        mobile: string;
        codeHash: string;
        now: string;
      };
    };

export type PendingNumber = { codeHash: string; expiresAt: string; attemptsLeft: number };

export type TenantState = {
  /** False until the first event: then status is the deployment's start status. */
  exists: boolean;
  tenantId: string;
  status: TenantStatus;
  limits: TenantLimits;
  verifiedNumbers: string[];
  pending: Readonly<Record<string, PendingNumber>>;
};

export const initialTenantState = (): TenantState => ({
  exists: false,
  tenantId: '',
  status: 'trial',
  limits: {},
  verifiedNumbers: [],
  pending: {},
});

/** The state of a tenant with no stream yet: the deployment's start status. */
export function withStart(
  state: TenantState,
  tenantId: string,
  startAs: TenantStatus,
): TenantState {
  return state.exists ? state : { ...state, tenantId, status: startAs };
}

function started(state: TenantState, tenantId: string, startAs: TenantStatus): TenantEvent[] {
  return state.exists ? [] : [{ type: 'tenant.started.v1', data: { tenantId, status: startAs } }];
}

function invalid(field: string, message: string): DomainError {
  return new DomainError('VALIDATION_FAILED', message, { field });
}

/** Checks and copies limits: positive integers, calling codes of 1–3 digits. */
export function validateTenantLimits(limits: TenantLimits): TenantLimits {
  const out: TenantLimits = {};
  for (const key of Object.keys(limits)) {
    if (!['maxPerDay', 'maxPerSecond', 'mobileMaxPerDay', 'countries'].includes(key)) {
      throw invalid(key, `${key} is not a tenant limit.`);
    }
  }
  for (const key of ['maxPerDay', 'maxPerSecond', 'mobileMaxPerDay'] as const) {
    const v = limits[key];
    if (v !== undefined) out[key] = requireInteger(v, key, 1);
  }
  if (limits.countries !== undefined) {
    if (
      !Array.isArray(limits.countries) ||
      limits.countries.length === 0 ||
      !limits.countries.every((c) => typeof c === 'string' && /^[1-9][0-9]{0,2}$/.test(c))
    ) {
      throw invalid('countries', 'countries must be a non-empty list of calling codes like "86".');
    }
    out.countries = [...new Set(limits.countries)];
  }
  return out;
}

function sendNumberCode(
  current: TenantState,
  tenantId: string,
  d: Extract<TenantCommand, { type: 'SendNumberCode' }>['data'],
): TenantEvent[] {
  const state = withStart(current, tenantId, d.startAs);
  if (state.verifiedNumbers.includes(d.mobile)) {
    throw new DomainError('NUMBER_ALREADY_VERIFIED', 'This number is verified already.');
  }
  if (state.verifiedNumbers.length >= MAX_VERIFIED_NUMBERS) {
    throw new DomainError(
      'VERIFIED_NUMBERS_FULL',
      `A trial tenant may verify at most ${MAX_VERIFIED_NUMBERS} numbers; ask an admin to activate the tenant.`,
    );
  }
  return [
    ...started(current, tenantId, d.startAs),
    {
      type: 'tenant.number-code-sent.v1',
      data: {
        tenantId,
        mobile: requireText(d.mobile, 'mobile'),
        codeHash: requireText(d.codeHash, 'codeHash'),
        expiresAt: requireIsoTime(d.expiresAt, 'expiresAt'),
        messageId: requireText(d.messageId, 'messageId'),
      },
    },
  ];
}

function checkNumberCode(
  current: TenantState,
  tenantId: string,
  d: Extract<TenantCommand, { type: 'CheckNumberCode' }>['data'],
): TenantEvent[] {
  const state = withStart(current, tenantId, d.startAs);
  const pending = state.pending[d.mobile];
  if (!pending) {
    throw new DomainError('VERIFICATION_NOT_FOUND', 'No code was sent to this number.');
  }
  if (Date.parse(d.now) >= Date.parse(pending.expiresAt)) {
    throw new DomainError('VERIFICATION_EXPIRED', 'The code has expired; request a new one.');
  }
  if (pending.attemptsLeft <= 0) {
    throw new DomainError(
      'VERIFICATION_ATTEMPTS_EXHAUSTED',
      'No attempts left; request a new code.',
    );
  }
  if (d.codeHash === pending.codeHash) {
    return [{ type: 'tenant.number-verified.v1', data: { tenantId, mobile: d.mobile } }];
  }
  return [
    {
      type: 'tenant.number-check-failed.v1',
      data: { tenantId, mobile: d.mobile, attemptsLeft: pending.attemptsLeft - 1 },
    },
  ];
}

function decide(command: TenantCommand, current: TenantState): TenantEvent[] {
  const { tenantId } = command.data;
  requireText(tenantId, 'tenantId');
  switch (command.type) {
    case 'StartTenant':
      if (!tenantStatuses.includes(command.data.status)) {
        throw invalid('status', `status must be one of ${tenantStatuses.join(', ')}.`);
      }
      return started(current, tenantId, command.data.status);
    case 'ActivateTenant': {
      const state = withStart(current, tenantId, command.data.startAs);
      const head = started(current, tenantId, command.data.startAs);
      if (state.status === 'active') return head;
      return [...head, { type: 'tenant.activated.v1', data: { tenantId } }];
    }
    case 'SuspendTenant': {
      const state = withStart(current, tenantId, command.data.startAs);
      const head = started(current, tenantId, command.data.startAs);
      if (state.status === 'suspended') return head;
      const reason = command.data.reason?.trim();
      return [
        ...head,
        { type: 'tenant.suspended.v1', data: { tenantId, ...(reason ? { reason } : {}) } },
      ];
    }
    case 'SetTenantLimits':
      return [
        ...started(current, tenantId, command.data.startAs),
        {
          type: 'tenant.limits-set.v1',
          data: { tenantId, limits: validateTenantLimits(command.data.limits) },
        },
      ];
    case 'SendNumberCode':
      return sendNumberCode(current, tenantId, command.data);
    case 'CheckNumberCode':
      return checkNumberCode(current, tenantId, command.data);
  }
}

function evolve(state: TenantState, event: TenantEvent): TenantState {
  switch (event.type) {
    case 'tenant.started.v1':
      return { ...state, exists: true, tenantId: event.data.tenantId, status: event.data.status };
    case 'tenant.activated.v1':
      return { ...state, status: 'active' };
    case 'tenant.suspended.v1':
      return { ...state, status: 'suspended' };
    case 'tenant.limits-set.v1':
      return { ...state, limits: { ...event.data.limits } };
    case 'tenant.number-code-sent.v1':
      return {
        ...state,
        pending: {
          ...state.pending,
          [event.data.mobile]: {
            codeHash: event.data.codeHash,
            expiresAt: event.data.expiresAt,
            attemptsLeft: NUMBER_CODE_ATTEMPTS,
          },
        },
      };
    case 'tenant.number-check-failed.v1': {
      const pending = state.pending[event.data.mobile];
      if (!pending) return state;
      return {
        ...state,
        pending: {
          ...state.pending,
          [event.data.mobile]: { ...pending, attemptsLeft: event.data.attemptsLeft },
        },
      };
    }
    case 'tenant.number-verified.v1': {
      const { [event.data.mobile]: _done, ...pending } = state.pending;
      return {
        ...state,
        pending,
        verifiedNumbers: state.verifiedNumbers.includes(event.data.mobile)
          ? state.verifiedNumbers
          : [...state.verifiedNumbers, event.data.mobile],
      };
    }
    default:
      return state;
  }
}

export const tenantDecider: Decider<TenantCommand, TenantState, TenantEvent> = {
  decide,
  evolve,
  initialState: initialTenantState,
};

/** What the platform says about one send of this tenant to an E.164 number. */
export type DestinationRefusal =
  | { code: 'TENANT_SUSPENDED'; message: string }
  | { code: 'TRIAL_NUMBER_NOT_VERIFIED'; message: string }
  | { code: 'DESTINATION_NOT_ALLOWED'; message: string; callingCode: string | undefined };

/**
 * Suspended tenants send nothing; trial tenants only to their verified
 * numbers; every tenant only to its allowed countries. Undefined: allowed.
 */
export function refuseDestination(
  state: TenantState,
  e164: string,
  callingCode: string | undefined,
  countries: readonly string[],
): DestinationRefusal | undefined {
  if (state.status === 'suspended') {
    return { code: 'TENANT_SUSPENDED', message: 'The tenant is suspended; ask an admin.' };
  }
  if (callingCode === undefined || !countries.includes(callingCode)) {
    return {
      code: 'DESTINATION_NOT_ALLOWED',
      message: `The tenant may send to ${countries.map((c) => `+${c}`).join(', ')} only.`,
      callingCode,
    };
  }
  if (state.status === 'trial' && !state.verifiedNumbers.includes(e164)) {
    return {
      code: 'TRIAL_NUMBER_NOT_VERIFIED',
      message:
        'A trial tenant sends only to numbers it verified (POST /v1/verified-numbers); ask an admin to activate it.',
    };
  }
  return undefined;
}
