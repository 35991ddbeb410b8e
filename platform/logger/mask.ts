// Masks mobile numbers and redacts secrets in anything about to be logged.

// Country calling codes of one or two digits (ITU-T E.164 assignments); every other code has three.
const ONE_DIGIT = new Set(['1', '7']);
const TWO_DIGITS = new Set(
  (
    '20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 ' +
    '60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98'
  ).split(' '),
);

function countryCodeLength(digits: string): number {
  if (ONE_DIGIT.has(digits.slice(0, 1))) return 1;
  if (TWO_DIGITS.has(digits.slice(0, 2))) return 2;
  return 3;
}

/** Keeps the first 3 and the last 4 digits of a national number. */
function maskNational(national: string): string {
  if (national.length <= 4) return '*'.repeat(national.length);
  if (national.length < 8) return '*'.repeat(national.length - 4) + national.slice(-4);
  return national.slice(0, 3) + '*'.repeat(national.length - 7) + national.slice(-4);
}

const E164 = /(?<![0-9A-Za-z])\+([1-9][0-9]{6,14})(?![0-9A-Za-z])/g;
// A mainland China mobile, optionally with the 86 / 0086 country prefix.
const CN_MOBILE =
  /(?<![0-9A-Za-z+])((?:00)?86[- ]?)?(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9A-Za-z])/g;

/** `13800138000` → `138****8000`, `+8613800138000` → `+86138****8000`. */
export function maskMobiles(text: string): string {
  return text
    .replace(E164, (_m, digits: string) => {
      const cc = countryCodeLength(digits);
      return `+${digits.slice(0, cc)}${maskNational(digits.slice(cc))}`;
    })
    .replace(
      CN_MOBILE,
      (_m, prefix: string | undefined, head: string, _mid: string, tail: string) =>
        `${prefix ?? ''}${head}****${tail}`,
    );
}

// Secrets inside text: a token, secret, key or signature in a URL's query
// (webhook URLs carry the account's secret as ?token=), a password in a URL's
// user info (store URLs in error messages) and a bearer token.
const QUERY_SECRET =
  /([?&;](?:[a-z0-9_-]*token|[a-z0-9_-]*secret|[a-z0-9_-]*key|signature|sig|password|passwd)=)[^&\s#"'<>]+/gi;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]+@/gi;
const BEARER = /(\bBearer\s+)[A-Za-z0-9._~+/=-]+/g;

/** `…/inbound?token=s3cr3t` → `…/inbound?token=[redacted]`; `redis://:pw@h` → `redis://:[redacted]@h`. */
export function maskSecretsInText(text: string): string {
  let out = text;
  if (out.includes('=')) out = out.replace(QUERY_SECRET, `$1${REDACTED}`);
  if (out.includes('@')) out = out.replace(URL_PASSWORD, `$1${REDACTED}@`);
  if (out.includes('Bearer')) out = out.replace(BEARER, `$1${REDACTED}`);
  return out;
}

const REDACTED_KEYS = new Set([
  'password',
  'passwd',
  'secret',
  'token',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'apikey',
  'xapikey',
  'accesskeysecret',
  'code',
  'verificationcode',
]);

/** password, secret, token, authorization, accessKeySecret, code (…and jwtSecret, accessToken, x-api-key). */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return (
    REDACTED_KEYS.has(k) || k.endsWith('password') || k.endsWith('secret') || k.endsWith('token')
  );
}

export const REDACTED = '[redacted]';

/** A masked copy of value: mobiles masked in every string, secret-named keys redacted. Never mutates. */
export function maskValue(value: unknown, seen = new WeakSet<object>(), depth = 0): unknown {
  if (typeof value === 'string') return maskSecretsInText(maskMobiles(value));
  if (typeof value === 'number' || typeof value === 'bigint') {
    const text = String(value);
    const masked = maskMobiles(text);
    return masked === text ? value : masked;
  }
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (seen.has(value)) return '[circular]';
  if (depth > 12) return '[too deep]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => maskValue(v, seen, depth + 1));
    const source: Record<string, unknown> =
      value instanceof Error
        ? {
            name: value.name,
            message: value.message,
            stack: value.stack,
            ...Object.fromEntries(Object.entries(value)),
          }
        : (value as Record<string, unknown>);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(source)) {
      out[k] =
        isSecretKey(k) && v !== undefined && v !== null ? REDACTED : maskValue(v, seen, depth + 1);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Masks a winston info object in place (its own object per call); its symbol keys are left alone. */
export function maskInfo<T extends Record<string, unknown>>(info: T): T {
  const target = info as Record<string, unknown>;
  for (const key of Object.keys(target)) {
    if (key === 'level') continue;
    const v = target[key];
    target[key] = isSecretKey(key) && v !== undefined && v !== null ? REDACTED : maskValue(v);
  }
  return info;
}
