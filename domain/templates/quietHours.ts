// Quiet hours of a marketing template: a marketing send that falls inside them
// is held until they end (the message's notBefore; the dispatcher's durable
// timers release it). The window is wall-clock time in a time zone (the
// recipients', China by default) and may cross midnight (21:00–08:00).
//
// The time-zone arithmetic (offsets, daylight saving) is croner's, which the
// jobs use already: the next start and the next end of the window are the next
// runs of two daily patterns in that zone, and a moment is inside the window
// exactly when the next boundary after it is an end.
import { Cron } from 'croner';
import { DomainError } from '../errors.ts';
import type { TemplateKind } from './policy.ts';

export type QuietHours = {
  /** Local time the window opens, HH:MM or HH:MM:SS (24 h). */
  start: string;
  /** Local time it closes: the first moment a held message may leave. */
  end: string;
  /** IANA time zone of the recipients, e.g. Asia/Shanghai. */
  timeZone: string;
};

export const DEFAULT_QUIET_HOURS_TIME_ZONE = 'Asia/Shanghai';

const TIME = /^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$/;

function invalid(reason: string, message: string, field = 'quietHours'): DomainError {
  return new DomainError('QUIET_HOURS_INVALID', message, { field, reason });
}

function requireTime(value: unknown, field: string): string {
  const match = typeof value === 'string' ? TIME.exec(value) : null;
  if (!match) {
    throw invalid('BAD_TIME', `${field} must be a time of day, HH:MM or HH:MM:SS (24 h).`, field);
  }
  return `${match[1]}:${match[2]}:${match[3] ?? '00'}`;
}

function requireTimeZone(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalid(
      'UNKNOWN_TIME_ZONE',
      'quietHours.timeZone must be an IANA time zone.',
      'quietHours.timeZone',
    );
  }
  try {
    // canonical spelling (asia/shanghai → Asia/Shanghai)
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    throw invalid(
      'UNKNOWN_TIME_ZONE',
      `quietHours.timeZone ${JSON.stringify(value)} is not a known IANA time zone (e.g. Asia/Shanghai).`,
      'quietHours.timeZone',
    );
  }
}

/**
 * Checks quiet hours for a template of a kind and answers them normalised
 * (HH:MM:SS, the zone filled in). Throws QUIET_HOURS_INVALID.
 */
export function requireQuietHours(value: unknown, kind: TemplateKind): QuietHours {
  if (kind !== 'marketing') {
    throw invalid(
      'NOT_MARKETING',
      `Only marketing templates have quiet hours; this one is a ${kind} template, whose messages always leave at once.`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('BAD_TIME', 'quietHours must be {start, end, timeZone?}.');
  }
  const v = value as Record<string, unknown>;
  const start = requireTime(v['start'], 'quietHours.start');
  const end = requireTime(v['end'], 'quietHours.end');
  if (start === end) {
    throw invalid('EMPTY_WINDOW', 'quietHours.start and quietHours.end must differ.');
  }
  const timeZone = requireTimeZone(v['timeZone'] ?? DEFAULT_QUIET_HOURS_TIME_ZONE);
  return { start, end, timeZone };
}

function daily(time: string, timeZone: string): Cron {
  const [h, m, s] = time.split(':');
  return new Cron(`${Number(s)} ${Number(m)} ${Number(h)} * * *`, { timezone: timeZone });
}

/**
 * When `at` (ms) falls inside the quiet hours: the moment they end (ms), the
 * earliest a marketing message may leave; otherwise undefined.
 */
export function quietUntil(quiet: QuietHours, at: number): number | undefined {
  const from = new Date(at);
  const nextStart = daily(quiet.start, quiet.timeZone).nextRun(from);
  const nextEnd = daily(quiet.end, quiet.timeZone).nextRun(from);
  if (!nextEnd) return undefined;
  if (nextStart && nextStart.getTime() <= nextEnd.getTime()) return undefined;
  return nextEnd.getTime();
}
