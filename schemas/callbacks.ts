// The body streaming POSTs to a tenant's callback endpoint: one stable
// schema for every event (documented in the OpenAPI document's `webhooks`
// and in docs/callbacks.md). Fields are only added, never renamed or
// removed; a receiver ignores what it does not know.
import type { JsonSchema } from './events.ts';

const text = { type: 'string' } as const;
const time = { type: 'string', format: 'date-time' } as const;

export const CALLBACK_PAYLOAD_TYPES = [
  'message.submitted',
  'message.delivered',
  'message.undelivered',
  'message.failed',
  'message.expired',
  'message.cancelled',
  'inbound.received',
  'mobile.opted-out',
  'callback.test',
] as const;

export const callbackPayloadSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'type', 'createdAt', 'data'],
  additionalProperties: false,
  properties: {
    id: {
      ...text,
      description:
        'Event id: the same on every retry and replay of this event; de-duplicate on it.',
    },
    type: { enum: [...CALLBACK_PAYLOAD_TYPES] },
    createdAt: { ...time, description: 'When streaming recorded the event.' },
    data: {
      type: 'object',
      additionalProperties: false,
      properties: {
        messageId: text,
        status: {
          enum: ['submitted', 'delivered', 'undelivered', 'failed', 'expired', 'cancelled'],
          description: 'message.*: the status the message reached.',
        },
        templateCode: text,
        mobile: { ...text, description: 'E.164.' },
        supplierAccount: text,
        supplierMessageId: {
          ...text,
          description: "The vendor's id of the message (BizId, SerialNo).",
        },
        vendorCode: {
          ...text,
          description: "The vendor's (or streaming's) code of a failure, where there is one.",
        },
        vendorMessage: text,
        occurredAt: {
          ...time,
          description: 'When it happened at the vendor (delivery report time), when known.',
        },
        acceptedAt: time,
        inboundId: text,
        content: { ...text, description: 'inbound.received: the text of the reply.' },
        receivedAt: time,
        linkedMessageId: { ...text, description: 'inbound.received: the message it answers.' },
        keyword: { ...text, description: 'mobile.opted-out: the keyword that opted it out.' },
        callbackId: { ...text, description: 'callback.test: the endpoint tested.' },
      },
    },
  },
};
