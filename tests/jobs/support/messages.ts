// Message streams for the jobs tests, appended through the event store port.
import { randomUUID } from 'node:crypto';
import type { EventStore, NewEvent } from '../../../platform/eventStore/index.ts';

export function acceptedEvent(messageId: string, tenantId: string, acceptedAt: Date): NewEvent {
  return {
    type: 'sms.accepted.v1',
    data: {
      messageId,
      tenantId,
      templateId: 'tpl-1',
      templateCode: 'TPL_1',
      kind: 'notification',
      mobile: '+8613800000000',
      content: 'hello',
      segments: 1,
      encoding: 'GSM-7',
      suppliers: ['sim-aliyun'],
      requestHash: 'h',
      acceptedAt: acceptedAt.toISOString(),
    },
    metadata: { timestamp: acceptedAt.toISOString() },
  };
}

export function submittedEvent(messageId: string, supplierMessageId: string, at: Date): NewEvent {
  return {
    type: 'sms.submitted.v1',
    data: { messageId, supplierAccount: 'sim-aliyun', supplierMessageId, attempt: 1 },
    metadata: { timestamp: at.toISOString() },
  };
}

export const daysAgo = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);
export const secondsAgo = (now: Date, s: number) => new Date(now.getTime() - s * 1000);

/** Appends an accepted message (optionally submitted); returns its id and supplier message id. */
export async function sendMessage(
  store: EventStore,
  tenantId: string,
  acceptedAt: Date,
  options: { submitted?: boolean } = {},
): Promise<{ id: string; supplierMessageId: string }> {
  const id = randomUUID();
  const supplierMessageId = `SM-${randomUUID().slice(0, 8).toUpperCase()}`;
  const events = [acceptedEvent(id, tenantId, acceptedAt)];
  if (options.submitted) events.push(submittedEvent(id, supplierMessageId, acceptedAt));
  await store.append(`message-${id}`, events, 'no_stream');
  return { id, supplierMessageId };
}
