// The rate-limit policy a template carries, and verification-code settings.
// Shapes match ratePolicySchema / verificationSettingsSchema in schemas/events.ts.
import { DomainError } from '../errors.ts';

export type TemplateKind = 'verification' | 'notification' | 'marketing';
export const templateKinds: readonly TemplateKind[] = ['verification', 'notification', 'marketing'];

export type RatePolicy = {
  mobile?: { minIntervalSeconds?: number; maxPerHour?: number; maxPerDay?: number };
  template?: { maxPerDay?: number };
  tenant?: { maxPerDay?: number };
};

export type VerificationSettings = { codeLength: number; ttlSeconds: number; maxAttempts: number };

export type PolicyInput = {
  policy?: RatePolicy | undefined;
  verification?: Partial<VerificationSettings> | undefined;
};

export type ResolvedPolicy = { policy: RatePolicy; verification?: VerificationSettings };

export const verificationMobileDefaults = {
  minIntervalSeconds: 60,
  maxPerHour: 5,
  maxPerDay: 10,
} as const;
/** The most wrong guesses a verification policy may allow. */
export const MAX_ATTEMPTS = 10;

export const verificationDefaults: VerificationSettings = {
  codeLength: 6,
  ttlSeconds: 300,
  maxAttempts: 5,
};

const DAY = 86_400;

function invalid(field: string, message: string): DomainError {
  return new DomainError('POLICY_INVALID', `${field}: ${message}`, { field });
}

const shape: Record<string, readonly string[]> = {
  mobile: ['minIntervalSeconds', 'maxPerHour', 'maxPerDay'],
  template: ['maxPerDay'],
  tenant: ['maxPerDay'],
};

function checkCount(field: string, value: unknown, allowZero: boolean): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalid(field, `must be a whole number, got ${JSON.stringify(value)}.`);
  }
  if (value < 0) throw invalid(field, `must not be negative, got ${value}.`);
  if (value === 0 && !allowZero) {
    throw invalid(field, 'must be at least 1; to stop sending, disable the template instead.');
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Throws DomainError('POLICY_INVALID', …, {field}) naming the first impossible
 * field: unknown keys, non-integers, negatives, a max* of 0, hourly above
 * daily, an interval above one day, verification settings out of range or on
 * a template that does not send codes.
 */
export function validatePolicy(
  policy: RatePolicy,
  verification?: VerificationSettings,
  kind?: TemplateKind,
): void {
  if (!isRecord(policy)) throw invalid('policy', 'must be an object.');
  for (const [scope, value] of Object.entries(policy)) {
    const keys = shape[scope];
    if (!keys) throw invalid(scope, 'is not a policy scope (use mobile, template or tenant).');
    if (value === undefined) continue;
    if (!isRecord(value)) throw invalid(scope, 'must be an object.');
    for (const [key, v] of Object.entries(value)) {
      if (!keys.includes(key)) {
        throw invalid(`${scope}.${key}`, `is not a limit; ${scope} has ${keys.join(', ')}.`);
      }
      checkCount(`${scope}.${key}`, v, key === 'minIntervalSeconds');
    }
  }
  const m = policy.mobile;
  if (m?.minIntervalSeconds !== undefined && m.minIntervalSeconds > DAY) {
    throw invalid('mobile.minIntervalSeconds', `must be at most ${DAY} (one day).`);
  }
  if (m?.maxPerHour !== undefined && m.maxPerDay !== undefined && m.maxPerHour > m.maxPerDay) {
    throw invalid(
      'mobile.maxPerHour',
      `${m.maxPerHour} per hour can never be reached with mobile.maxPerDay ${m.maxPerDay}.`,
    );
  }
  if (verification !== undefined) {
    if (kind !== undefined && kind !== 'verification') {
      throw invalid('verification', `only verification templates send codes, not ${kind} ones.`);
    }
    if (!isRecord(verification)) throw invalid('verification', 'must be an object.');
    for (const key of Object.keys(verification)) {
      if (!(key in verificationDefaults)) {
        throw invalid(`verification.${key}`, 'is not a verification setting.');
      }
    }
    const { codeLength, ttlSeconds, maxAttempts } = verification;
    if (!Number.isInteger(codeLength) || codeLength < 4 || codeLength > 8) {
      throw invalid(
        'verification.codeLength',
        `must be a whole number from 4 to 8, got ${codeLength}.`,
      );
    }
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > DAY) {
      throw invalid(
        'verification.ttlSeconds',
        `must be a whole number from 1 to ${DAY}, got ${ttlSeconds}.`,
      );
    }
    // More than 10 tries makes a 4-digit code guessable one time in a thousand.
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS) {
      throw invalid(
        'verification.maxAttempts',
        `must be a whole number from 1 to ${MAX_ATTEMPTS}, got ${maxAttempts}.`,
      );
    }
  }
}

// Copies only known keys, dropping undefined ones, so events stay schema-clean.
function copyPolicy(policy: RatePolicy): RatePolicy {
  const out: Record<string, Record<string, number>> = {};
  for (const [scope, value] of Object.entries(policy)) {
    if (!isRecord(value)) continue;
    const limits: Record<string, number> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v !== undefined) limits[key] = v as number;
    }
    out[scope] = limits;
  }
  return out as RatePolicy;
}

/**
 * Applies the kind's defaults, then validates. Verification templates get
 * mobile limits 60 s / 5 per hour / 10 per day and codes of 6 digits valid
 * 300 s with 5 attempts, each only where not given; a default never makes a
 * given limit impossible (maxPerDay 3 alone yields maxPerHour 3).
 * Notification and marketing templates get no defaults.
 */
export function resolvePolicy(kind: TemplateKind, input: PolicyInput = {}): ResolvedPolicy {
  const given = input.policy ?? {};
  if (!isRecord(given)) throw invalid('policy', 'must be an object.');
  if (kind !== 'verification') {
    const policy = copyPolicy(given);
    if (input.verification !== undefined) {
      throw invalid('verification', `only verification templates send codes, not ${kind} ones.`);
    }
    validatePolicy(policy, undefined, kind);
    return { policy };
  }
  validatePolicy(given); // reports the caller's own mistakes before defaults blur them
  const m = given.mobile ?? {};
  const d = verificationMobileDefaults;
  const maxPerDay =
    m.maxPerDay ?? (m.maxPerHour !== undefined ? Math.max(d.maxPerDay, m.maxPerHour) : d.maxPerDay);
  const maxPerHour = m.maxPerHour ?? Math.min(d.maxPerHour, maxPerDay);
  const policy = copyPolicy({
    ...given,
    mobile: {
      minIntervalSeconds: m.minIntervalSeconds ?? d.minIntervalSeconds,
      maxPerHour,
      maxPerDay,
    },
  });
  const v = input.verification ?? {};
  if (!isRecord(v)) throw invalid('verification', 'must be an object.');
  const verification: VerificationSettings = {
    ...verificationDefaults,
    ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)),
  };
  validatePolicy(policy, verification, kind);
  return { policy, verification };
}
