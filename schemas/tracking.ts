// Operational tracking events, published by every service to the Kafka topic
// `streaming.tracking` and loaded into Mongo by the pump (pump/).
import type { JsonSchema } from './events.ts';

export { TRACKING_TOPIC } from '../contracts/index.ts';

export interface TrackingEvent {
  /** Unique per event: the pump's idempotency key. */
  id: string;
  type:
    'send.accepted' | 'send.rejected' | 'supplier.call' | 'webhook.received' | 'receipt.mismatched';
  at: string;
  service: string;
  tenantId?: string;
  messageId?: string;
  templateCode?: string;
  /** send.rejected: the error code (e.g. RATE_LIMIT_MOBILE_HOURLY). */
  rule?: string;
  supplierAccount?: string;
  vendor?: string;
  latencyMs?: number;
  /** supplier.call: accepted | rejected | transient | unknown. */
  outcome?: string;
  /** supplier.call: the vendor's code; receipt.mismatched: why (ACCOUNT_MISMATCH, …). */
  code?: string;
  /** webhook.received: receipts | inbound. */
  kind?: string;
}

export const trackingEventSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'type', 'at', 'service'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 100 },
    type: {
      enum: [
        'send.accepted',
        'send.rejected',
        'supplier.call',
        'webhook.received',
        'receipt.mismatched',
      ],
    },
    at: { type: 'string', format: 'date-time' },
    service: { type: 'string', minLength: 1 },
    tenantId: { type: 'string' },
    messageId: { type: 'string' },
    templateCode: { type: 'string' },
    rule: { type: 'string' },
    supplierAccount: { type: 'string' },
    vendor: { type: 'string' },
    latencyMs: { type: 'number', minimum: 0 },
    outcome: { enum: ['accepted', 'rejected', 'transient', 'unknown'] },
    code: { type: 'string' },
    kind: { enum: ['receipts', 'inbound'] },
  },
};
