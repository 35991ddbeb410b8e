import { randomUUID } from 'node:crypto';
import type { EventMetadata } from './types.ts';

/** Fills in what an appender left out: event id, time, and correlation defaulting to the event itself. */
export function completeMetadata(partial: Partial<EventMetadata> | undefined): EventMetadata {
  const eventId = partial?.eventId ?? randomUUID();
  return {
    eventId,
    correlationId: partial?.correlationId ?? eventId,
    causationId: partial?.causationId ?? null,
    actor: partial?.actor ?? { type: 'system', id: 'streaming' },
    requestId: partial?.requestId ?? null,
    timestamp: partial?.timestamp ?? new Date().toISOString(),
  };
}
