// Clock windows in China time (UTC+8), as the vendors count them: an hour or a
// day starts at :00 / 00:00 Beijing time, whatever the server's time zone.
const OFFSET_MS = 8 * 3_600_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface Window {
  /** e.g. 2024061513 (hour) or 20240615 (day), in UTC+8. */
  id: string;
  /** Epoch ms at which the window ends. */
  endsAt: number;
}

function label(ms: number, withHour: boolean): string {
  const iso = new Date(ms + OFFSET_MS).toISOString(); // the UTC+8 wall clock, as if it were UTC
  const day = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}`;
  return withHour ? `${day}${iso.slice(11, 13)}` : day;
}

// The window of the last time asked for: a batch's recipients share one time,
// and each asks for its hour and day in every limit of its own.
let lastHour: { at: number; window: Window } | undefined;
let lastDay: { at: number; window: Window } | undefined;

export function hourWindow(now: number): Window {
  if (lastHour?.at === now) return lastHour.window;
  const index = Math.floor((now + OFFSET_MS) / HOUR_MS);
  const window = Object.freeze({ id: label(now, true), endsAt: (index + 1) * HOUR_MS - OFFSET_MS });
  lastHour = { at: now, window };
  return window;
}

export function dayWindow(now: number): Window {
  if (lastDay?.at === now) return lastDay.window;
  const index = Math.floor((now + OFFSET_MS) / DAY_MS);
  const window = Object.freeze({ id: label(now, false), endsAt: (index + 1) * DAY_MS - OFFSET_MS });
  lastDay = { at: now, window };
  return window;
}
