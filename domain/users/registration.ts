// Checks on registration input that must happen before the password is hashed.
import { DomainError } from '../errors.ts';
import { normalizeMobile } from '../phone/index.ts';

export const USERNAME_PATTERN = /^[a-z0-9_.-]{3,32}$/;
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 256;
const emailPattern = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

function failed(field: string, message: string): DomainError {
  return new DomainError('VALIDATION_FAILED', message, { field });
}

export function validateUsername(username: unknown): string {
  if (typeof username !== 'string' || !USERNAME_PATTERN.test(username)) {
    throw failed(
      'username',
      'The username must be 3 to 32 characters of lower-case letters, digits, "_", "." or "-".',
    );
  }
  return username;
}

export type RegistrationInput = {
  username: string;
  password: string;
  email?: string | undefined;
  phone?: string | undefined;
};
export type ValidRegistration = { username: string; email?: string; phone?: string };

/**
 * Validates what a person types to register and returns it normalised:
 * username trimmed and lower-cased, email trimmed, phone in E.164.
 * Throws VALIDATION_FAILED with details.field naming the bad field.
 */
export function validateRegistration(input: RegistrationInput): ValidRegistration {
  const username = validateUsername(
    typeof input.username === 'string' ? input.username.trim().toLowerCase() : input.username,
  );
  const password = input.password;
  if (typeof password !== 'string' || [...password].length < MIN_PASSWORD_LENGTH) {
    throw failed('password', `The password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw failed('password', `The password must have at most ${MAX_PASSWORD_LENGTH} characters.`);
  }
  const out: ValidRegistration = { username };
  if (input.email !== undefined) {
    const email = typeof input.email === 'string' ? input.email.trim() : '';
    if (email.length > 254 || !emailPattern.test(email)) {
      throw failed('email', 'The email address must look like name@example.com.');
    }
    out.email = email;
  }
  if (input.phone !== undefined) {
    try {
      out.phone = normalizeMobile(input.phone);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      throw new DomainError('VALIDATION_FAILED', `phone: ${error.message}`, {
        field: 'phone',
        reason: error.details?.reason,
      });
    }
  }
  return out;
}
