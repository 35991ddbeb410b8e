// Rate limits of template policies in Redis: reserve all or nothing, release,
// and replay from the event store. Key layout: see limiter.ts.
export {
  reserveLimits,
  reserveLimitsMany,
  reserveLimitsEach,
  releaseReservation,
  replayAccepted,
  createLimitReplay,
  type RateRule,
  type PlatformLimits,
  type LimitSubject,
  type LimitRequest,
  type Reservation,
  type ReserveResult,
  type LimitOptions,
} from './limiter.ts';
export { hourWindow, dayWindow, type Window } from './windows.ts';
export { effectiveTenantLimits, platformLimitsOf } from './platformLimits.ts';
