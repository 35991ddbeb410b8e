// Small checks shared by the deciders. Everything here is pure.
import { DomainError } from '../errors.ts';

type Defined<T> = { [K in keyof T]: Exclude<T[K], undefined> };

// Event payloads never carry keys whose value is undefined: the schemas are
// strict and stored JSON would differ from the in-memory value.
export function withoutUndefined<T extends Record<string, unknown>>(value: T): Defined<T> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined) out[key] = v;
  }
  return out as Defined<T>;
}

// Structural equality for JSON-like values. A key present with `undefined`
// differs from an absent key, on purpose (see withoutUndefined).
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && deepEqual(ra[k], rb[k]));
}

export function requireText(value: unknown, field: string, code = 'VALIDATION_FAILED'): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new DomainError(code, `${field} is required and must be a non-empty string.`, { field });
  }
  return value;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

export function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && rfc3339.test(value) && !Number.isNaN(Date.parse(value));
}

export function requireIsoTime(value: unknown, field: string): string {
  if (!isIsoTime(value)) {
    throw new DomainError(
      'VALIDATION_FAILED',
      `${field} must be an RFC 3339 date-time with a time zone, e.g. 2025-01-31T08:00:00Z.`,
      { field },
    );
  }
  return value;
}

export function requireInteger(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new DomainError('VALIDATION_FAILED', `${field} must be an integer of at least ${min}.`, {
      field,
    });
  }
  return value;
}

export function requireTextList(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.trim() === '')) {
    throw new DomainError('VALIDATION_FAILED', `${field} must be a list of non-empty strings.`, {
      field,
    });
  }
  const list = value as string[];
  if (new Set(list).size !== list.length) {
    throw new DomainError('VALIDATION_FAILED', `${field} lists the same entry twice.`, { field });
  }
  return [...list];
}
