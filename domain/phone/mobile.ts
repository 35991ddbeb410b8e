// Mobile numbers: normalised to E.164 on the way in, masked on the way out.
import {
  isSupportedCountry,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
  type PhoneNumber,
} from 'libphonenumber-js/max';
// metadata with the mobile number patterns only: a number valid under it is a
// mobile, so the common case needs one match, not a match per number type
import { parsePhoneNumberFromString as parseAsMobile } from 'libphonenumber-js/mobile';
import { DomainError } from '../errors.ts';

export type MobileProblem =
  | 'EMPTY'
  | 'INVALID_CHARACTERS'
  | 'INVALID_COUNTRY'
  | 'TOO_SHORT'
  | 'TOO_LONG'
  | 'INVALID_NUMBER'
  | 'NOT_A_MOBILE';

function invalid(reason: MobileProblem, message: string): DomainError {
  return new DomainError('INVALID_MOBILE', message, { reason });
}

// Full-width digits, plus signs and spaces (common from Chinese IMEs) fold to ASCII.
function fold(input: string): string {
  return input.normalize('NFKC').trim();
}

const separators = /[\s\-().]/g;
const mobileTypes = new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

/**
 * Normalises a mobile number to E.164 (`+8613800138000`). Accepts national
 * numbers of `defaultCountry`, `+86` / `0086` / `86` prefixes, spaces, dashes,
 * dots and brackets. Throws DomainError('INVALID_MOBILE') whose message names
 * what is wrong and whose details.reason is a MobileProblem.
 */
export function normalizeMobile(input: string, defaultCountry = 'CN'): string {
  if (!isSupportedCountry(defaultCountry)) {
    throw invalid('INVALID_COUNTRY', `Unknown default country "${defaultCountry}".`);
  }
  const text = typeof input === 'string' ? fold(input) : '';
  if (text === '') throw invalid('EMPTY', 'The mobile number is empty.');
  if (!/^\+?\d+$/.test(text.replace(separators, ''))) {
    throw invalid(
      'INVALID_CHARACTERS',
      'The mobile number may contain only digits, spaces, dashes, brackets and a leading +.',
    );
  }
  // (a non-geographic number, +800 and the like, keeps its general pattern there)
  const mobile = parseAsMobile(text, defaultCountry);
  if (mobile?.country !== undefined && mobile.isValid()) return remember(mobile);
  // not a mobile by the mobile patterns: the full metadata says what it is (a
  // number of no known type still passes, as it always did); a valid number
  // has a possible length: the length is looked at (a further parse) only to
  // say what is wrong with one that is not valid
  const parsed = parsePhoneNumberFromString(text, defaultCountry);
  if (parsed?.isValid()) return mobileOf(parsed);
  const digits = text.replace(/\D/g, '');
  const lengthProblem = validatePhoneNumberLength(text, defaultCountry);
  if (lengthProblem === 'TOO_SHORT' || lengthProblem === 'TOO_LONG') {
    const china = defaultCountry === 'CN' && !text.startsWith('+');
    throw invalid(
      lengthProblem,
      `The mobile number is too ${lengthProblem === 'TOO_SHORT' ? 'short' : 'long'}: ${digits.length} digits${china ? ' (a mainland China mobile has 11)' : ''}.`,
    );
  }
  if (lengthProblem === 'INVALID_COUNTRY') {
    throw invalid('INVALID_COUNTRY', 'The country calling code of the mobile number is unknown.');
  }
  if (!parsed) {
    throw invalid('INVALID_NUMBER', 'The mobile number is not a phone number.');
  }
  throw invalid(
    'INVALID_NUMBER',
    `The mobile number is not a valid number${parsed.country ? ` in ${parsed.country}` : ''}; check the digits and the country code.`,
  );
}

/** Calling codes of numbers normalizeMobile returned lately: callingCodeOf without a parse. */
const callingCodes = new Map<string, string>();
const CALLING_CODES_MAX = 10_000;

/** A valid number's E.164, if it is a mobile. */
function mobileOf(parsed: PhoneNumber): string {
  const type = parsed.getType();
  if (type !== undefined && !mobileTypes.has(type)) {
    throw invalid(
      'NOT_A_MOBILE',
      `The number is a ${type.toLowerCase().replace(/_/g, ' ')} number, not a mobile.`,
    );
  }
  return remember(parsed);
}

/** The number's E.164, its calling code noted for callingCodeOf. */
function remember(parsed: { number: string; countryCallingCode: string }): string {
  if (callingCodes.size >= CALLING_CODES_MAX) callingCodes.clear();
  callingCodes.set(parsed.number, parsed.countryCallingCode);
  return parsed.number;
}

/**
 * Masks a number for logs: first 3 and last 4 digits of the national number
 * (`+8613800138000` → `138****8000`). Shorter numbers show less; never throws.
 */
export function maskMobile(input: string): string {
  const text = typeof input === 'string' ? fold(input) : '';
  const parsed = text === '' ? undefined : parsePhoneNumberFromString(text, 'CN');
  const national = parsed ? String(parsed.nationalNumber) : text.replace(/\D/g, '');
  const n = national.length;
  if (n === 0) return '****';
  if (n >= 9) return `${national.slice(0, 3)}****${national.slice(-4)}`;
  if (n >= 5) return `${national.slice(0, 2)}****${national.slice(-2)}`;
  return '****';
}

/** The country calling code of an E.164 number, without the plus (`'86'`); undefined when unknown. */
export function callingCodeOf(e164: string): string | undefined {
  return callingCodes.get(e164) ?? parsePhoneNumberFromString(e164)?.countryCallingCode;
}
