import { AppError } from '../errors/index.ts';
import type { ExpectedVersion } from './types.ts';

/** The stream's version was not the one the append expected; nothing was written. */
export class WrongExpectedVersionError extends AppError {
  readonly streamId: string;
  readonly expected: ExpectedVersion;
  readonly actual: number | 'no_stream';
  constructor(streamId: string, expected: ExpectedVersion, actual: number | 'no_stream') {
    super('VERSION_CONFLICT', `stream ${streamId}: expected ${expected}, found ${actual}`, {
      streamId,
      expected,
      actual,
    });
    this.name = 'WrongExpectedVersionError';
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A payload failed its event schema; nothing was written. */
export class InvalidEventError extends Error {
  readonly type: string;
  readonly errors: unknown;
  constructor(type: string, errors: unknown) {
    super(`event ${type} does not match its schema: ${JSON.stringify(errors)}`);
    this.name = 'InvalidEventError';
    this.type = type;
    this.errors = errors;
  }
}
