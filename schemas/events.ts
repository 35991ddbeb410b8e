// Versioned event types and their JSON Schemas. Event type names are stable
// strings kept apart from code names; payloads are validated on append.
// A new version of an event gets a new type string and an upcaster in
// platform/eventStore/upcasting.ts; stored events are never rewritten.

export type JsonSchema = Record<string, unknown>;

const str = { type: 'string', minLength: 1 } as const;
const optStr = { type: 'string' } as const;
const int = { type: 'integer', minimum: 0 } as const;
const time = { type: 'string', format: 'date-time' } as const;
const reason = {
  type: 'object',
  required: ['code', 'message'],
  additionalProperties: false,
  properties: { code: str, message: optStr, retriable: { type: 'boolean' } },
} as const;

function obj(required: string[], properties: Record<string, unknown>): JsonSchema {
  return { type: 'object', required, additionalProperties: false, properties };
}

export const ratePolicySchema = obj([], {
  mobile: obj([], {
    minIntervalSeconds: int,
    maxPerHour: int,
    maxPerDay: int,
  }),
  template: obj([], { maxPerDay: int }),
  tenant: obj([], { maxPerDay: int }),
});

export const verificationSettingsSchema = obj(['codeLength', 'ttlSeconds', 'maxAttempts'], {
  codeLength: { type: 'integer', minimum: 4, maximum: 8 },
  ttlSeconds: { type: 'integer', minimum: 1 },
  maxAttempts: { type: 'integer', minimum: 1 },
});

/** Platform limits an admin sets on a tenant (on top of its template policies). */
export const tenantLimitsSchema = obj([], {
  maxPerDay: { type: 'integer', minimum: 1 },
  maxPerSecond: { type: 'integer', minimum: 1 },
  mobileMaxPerDay: { type: 'integer', minimum: 1 },
  countries: {
    type: 'array',
    minItems: 1,
    maxItems: 300,
    items: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
  },
});

// An SMS extension code: digits only (the vendors' format), 1–6 of them.
export const extendCodeSchema = { type: 'string', pattern: '^[0-9]{1,6}$' } as const;
/** A marketing template's quiet hours (domain/templates/quietHours.ts), as stored: HH:MM:SS. */
export const quietHoursSchema = {
  type: 'object',
  required: ['start', 'end', 'timeZone'],
  additionalProperties: false,
  properties: {
    start: { type: 'string', pattern: '^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$' },
    end: { type: 'string', pattern: '^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$' },
    timeZone: { type: 'string', minLength: 1 },
  },
} as const;

/** The events a callback endpoint subscribes to (domain/callbacks CALLBACK_EVENT_TYPES). */
const callbackEvents = {
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: {
    enum: [
      'message.submitted',
      'message.delivered',
      'message.undelivered',
      'message.failed',
      'message.expired',
      'message.cancelled',
      'inbound.received',
      'mobile.opted-out',
    ],
  },
} as const;

const templateKind = { enum: ['verification', 'notification', 'marketing'] } as const;

export const eventSchemas: Record<string, JsonSchema> = {
  // users and access
  'username.reserved.v1': obj(['username', 'userId'], { username: str, userId: str }),
  'user.registered.v1': obj(['userId', 'username', 'passwordHash', 'role'], {
    userId: str,
    username: str,
    passwordHash: str,
    role: { enum: ['admin', 'member'] },
    email: optStr,
    phone: optStr,
  }),
  'user.password-changed.v1': obj(['userId', 'passwordHash'], { userId: str, passwordHash: str }),
  'user.password-rehashed.v1': obj(['userId', 'passwordHash'], { userId: str, passwordHash: str }),
  'user.disabled.v1': obj(['userId'], { userId: str }),
  'user.enabled.v1': obj(['userId'], { userId: str }),
  'user.session-ended.v1': obj(['userId', 'tokenId', 'expiresAt'], {
    userId: str,
    tokenId: str,
    expiresAt: time,
  }),
  // tenants (stream tenant-<tenantId>)
  'tenant.started.v1': obj(['tenantId', 'status'], {
    tenantId: str,
    status: { enum: ['trial', 'active', 'suspended'] },
  }),
  'tenant.activated.v1': obj(['tenantId'], { tenantId: str }),
  'tenant.suspended.v1': obj(['tenantId'], { tenantId: str, reason: optStr }),
  'tenant.limits-set.v1': obj(['tenantId', 'limits'], {
    tenantId: str,
    limits: tenantLimitsSchema,
  }),
  'tenant.number-code-sent.v1': obj(['tenantId', 'mobile', 'codeHash', 'expiresAt', 'messageId'], {
    tenantId: str,
    mobile: str,
    codeHash: str,
    expiresAt: time,
    messageId: str,
  }),
  'tenant.number-check-failed.v1': obj(['tenantId', 'mobile', 'attemptsLeft'], {
    tenantId: str,
    mobile: str,
    attemptsLeft: int,
  }),
  'tenant.number-verified.v1': obj(['tenantId', 'mobile'], { tenantId: str, mobile: str }),
  'apikey.created.v1': obj(['keyId', 'userId', 'name', 'keyHash'], {
    keyId: str,
    userId: str,
    name: optStr,
    keyHash: str,
  }),
  'apikey.revoked.v1': obj(['keyId', 'userId'], { keyId: str, userId: str }),

  // templates
  'template.created.v1': obj(
    ['templateId', 'templateCode', 'tenantId', 'name', 'kind', 'signature', 'content', 'policy'],
    {
      templateId: str,
      templateCode: str,
      tenantId: str,
      name: str,
      kind: templateKind,
      signature: str,
      content: str,
      suppliers: { type: 'array', items: str },
      policy: ratePolicySchema,
      verification: verificationSettingsSchema,
      extendCode: extendCodeSchema,
      quietHours: quietHoursSchema,
    },
  ),
  'template.updated.v1': obj(['templateCode'], {
    templateCode: str,
    signature: str,
    content: str,
    suppliers: { type: 'array', items: str },
    policy: ratePolicySchema,
    verification: verificationSettingsSchema,
    // null: removed
    extendCode: { anyOf: [extendCodeSchema, { type: 'null' }] },
    quietHours: { anyOf: [quietHoursSchema, { type: 'null' }] },
  }),
  'template.disabled.v1': obj(['templateCode'], { templateCode: str }),
  'template.enabled.v1': obj(['templateCode'], { templateCode: str }),
  // review at each supplier account, per content revision
  'template.review-submitted.v1': obj(
    ['templateCode', 'account', 'vendorTemplateId', 'revision', 'params'],
    {
      templateCode: str,
      account: str,
      vendorTemplateId: str,
      revision: int,
      params: { type: 'array', items: str },
    },
  ),
  'template.binding-requested.v1': obj(
    ['templateCode', 'account', 'vendorTemplateId', 'revision'],
    { templateCode: str, account: str, vendorTemplateId: str, revision: int },
  ),
  'template.reviewed.v1': obj(['templateCode', 'account', 'revision', 'status'], {
    templateCode: str,
    account: str,
    vendorTemplateId: str,
    revision: int,
    status: { enum: ['approved', 'rejected'] },
    reason: optStr,
    params: { type: 'array', items: str },
  }),

  // an extension code reserved for a tenant on a supplier account (stream extend-code-<account>-<code>)
  'extend-code.reserved.v1': obj(['account', 'extendCode', 'tenantId'], {
    account: str,
    extendCode: extendCodeSchema,
    tenantId: str,
  }),

  // signatures (stream signature-<tenant>-<hash>; the name reserved in signature-name-<hash>)
  'signature.name-reserved.v1': obj(['name', 'tenantId'], { name: str, tenantId: str }),
  'signature.registered.v1': obj(['tenantId', 'name', 'accounts'], {
    tenantId: str,
    name: str,
    accounts: { type: 'array', items: str, minItems: 1 },
  }),
  'signature.accounts-added.v1': obj(['name', 'accounts'], {
    name: str,
    accounts: { type: 'array', items: str, minItems: 1 },
  }),
  'signature.submitted.v1': obj(['name', 'account'], {
    name: str,
    account: str,
    vendorSignId: optStr,
  }),
  'signature.reviewed.v1': obj(['name', 'account', 'status'], {
    name: str,
    account: str,
    status: { enum: ['approved', 'rejected'] },
    reason: optStr,
  }),

  // messages
  'sms.accepted.v1': obj(
    [
      'messageId',
      'tenantId',
      'templateId',
      'templateCode',
      'kind',
      'mobile',
      'content',
      'segments',
      'encoding',
      'suppliers',
      'requestHash',
    ],
    {
      messageId: str,
      tenantId: str,
      templateId: str,
      templateCode: str,
      kind: templateKind,
      mobile: str,
      signature: optStr,
      // what read models and exports may show: verification codes masked
      content: optStr,
      // the text to send, AES-GCM sealed, present for verification codes only
      sealedContent: optStr,
      // the params to send (code included), AES-GCM sealed JSON, verification codes only
      sealedParams: optStr,
      params: { type: 'object', additionalProperties: { type: 'string' } },
      segments: { type: 'integer', minimum: 1 },
      encoding: { enum: ['GSM-7', 'UCS-2'] },
      suppliers: { type: 'array', items: str },
      requestHash: str,
      idempotencyKey: optStr,
      verificationId: optStr,
      acceptedAt: time,
      // the template's extension code when the message was accepted
      extendCode: extendCodeSchema,
      // a URL told of this message's status changes (POST /v1/messages statusCallback)
      statusCallback: str,
      // per account the message may use: the vendor's approved template and its parameter order
      vendorTemplates: {
        type: 'object',
        additionalProperties: obj(['id', 'params'], {
          id: str,
          params: { type: 'array', items: str },
        }),
      },
      // a scheduled send: the time asked for, and the time it is not dispatched before
      // (sendAt, or the end of the template's quiet hours)
      sendAt: time,
      notBefore: time,
      // limits are reserved at send time by the dispatcher, not at accept
      limitsAtSend: { type: 'boolean' },
      // the batch it came in with (POST /v1/messages/batch) and its place in it
      batchId: str,
      batchIndex: int,
    },
  ),
  // a batch send's answer (stream batch-<batchId>): one result per recipient, in order
  'batch.recorded.v1': obj(
    ['batchId', 'tenantId', 'templateCode', 'requestHash', 'accepted', 'refused', 'results'],
    {
      batchId: str,
      tenantId: str,
      templateCode: str,
      requestHash: str,
      idempotencyKey: optStr,
      sendAt: time,
      accepted: int,
      refused: int,
      results: {
        type: 'array',
        minItems: 1,
        maxItems: 1000,
        items: {
          oneOf: [
            obj(['index', 'status', 'messageId', 'segments', 'encoding', 'position'], {
              index: int,
              status: { const: 'accepted' },
              messageId: str,
              segments: { type: 'integer', minimum: 1 },
              encoding: { enum: ['GSM-7', 'UCS-2'] },
              position: int,
              sendAt: time,
              notBefore: time,
            }),
            obj(['index', 'status', 'code', 'message'], {
              index: int,
              status: { const: 'refused' },
              code: str,
              message: optStr,
              details: { type: 'object' },
            }),
          ],
        },
      },
    },
  ),
  // cancelled before submission (POST /v1/messages/{id}/cancel); final
  'sms.cancelled.v1': obj(['messageId', 'cancelledAt'], {
    messageId: str,
    cancelledAt: time,
    reason: optStr,
  }),
  // the limits of a scheduled send, reserved at send time
  'sms.limits-reserved.v1': obj(['messageId', 'reservedAt'], {
    messageId: str,
    reservedAt: time,
  }),
  'sms.submitted.v1': obj(['messageId', 'supplierAccount', 'supplierMessageId'], {
    messageId: str,
    supplierAccount: str,
    supplierMessageId: str,
    attempt: int,
    latencyMs: { type: 'number', minimum: 0 },
    reconciled: { type: 'boolean' },
  }),
  'sms.failed-over.v1': obj(['messageId', 'fromAccount', 'reason'], {
    messageId: str,
    fromAccount: str,
    toAccount: optStr,
    reason,
    refusedResend: { type: 'boolean' },
  }),
  'sms.retry-scheduled.v1': obj(['messageId', 'supplierAccount', 'attempt', 'dueAt', 'reason'], {
    messageId: str,
    supplierAccount: str,
    attempt: int,
    dueAt: time,
    reason,
  }),
  'sms.submission-uncertain.v1': obj(['messageId', 'supplierAccount', 'reason'], {
    messageId: str,
    supplierAccount: str,
    reason,
    attempt: int,
  }),
  'sms.failed.v1': obj(['messageId', 'reason'], {
    messageId: str,
    supplierAccount: optStr,
    reason,
  }),
  'sms.delivered.v1': obj(['messageId', 'supplierAccount', 'supplierMessageId', 'deliveredAt'], {
    messageId: str,
    supplierAccount: str,
    supplierMessageId: str,
    deliveredAt: time,
  }),
  'sms.undelivered.v1': obj(['messageId', 'supplierAccount', 'supplierMessageId', 'reason'], {
    messageId: str,
    supplierAccount: str,
    supplierMessageId: str,
    reportedAt: time,
    reason,
  }),
  // no receipt and no pulled status within STREAMING_RECEIPT_EXPIRE_AFTER
  'sms.expired.v1': obj(['messageId', 'expiredAt', 'reason'], {
    messageId: str,
    supplierAccount: optStr,
    supplierMessageId: optStr,
    expiredAt: time,
    reason,
  }),

  // verification codes (stream verification-<templateCode>-<mobile digest>)
  'verification.issued.v1': obj(
    ['verificationId', 'messageId', 'templateCode', 'codeHash', 'expiresAt', 'maxAttempts'],
    {
      verificationId: str,
      messageId: str,
      templateCode: str,
      codeHash: str,
      expiresAt: time,
      maxAttempts: { type: 'integer', minimum: 1 },
    },
  ),
  'verification.check-failed.v1': obj(['verificationId', 'attemptsLeft'], {
    verificationId: str,
    attemptsLeft: int,
  }),
  // the pumping guard (stream verification-guard-<tenantId>)
  'verification.guard-tripped.v1': obj(
    ['tenantId', 'prefix', 'sent', 'verified', 'windowSeconds', 'until'],
    {
      tenantId: str,
      prefix: str,
      sent: int,
      verified: int,
      windowSeconds: int,
      until: time,
    },
  ),
  'verification.guard-lifted.v1': obj(['tenantId', 'prefix'], { tenantId: str, prefix: str }),
  'verification.verified.v1': obj(['verificationId'], { verificationId: str }),

  // delivery receipts as pushed (stream receipts-<account>), applied to messages by processors/
  'receipt.received.v1': obj(
    ['account', 'vendor', 'supplierMessageId', 'delivered', 'reportedAt'],
    {
      account: str,
      vendor: str,
      supplierMessageId: str,
      messageId: optStr,
      delivered: { type: 'boolean' },
      errorCode: optStr,
      errorMessage: optStr,
      reportedAt: time,
      mobile: optStr,
    },
  ),
  // a receipt (or pulled status) that is not about the message it names: another
  // account's, another vendor id, or matching nothing; it changed no message
  'receipt.mismatched.v1': obj(['account', 'vendor', 'supplierMessageId', 'reason', 'source'], {
    account: str,
    vendor: str,
    supplierMessageId: str,
    messageId: optStr,
    reason: { enum: ['ACCOUNT_MISMATCH', 'SUPPLIER_ID_MISMATCH', 'UNMATCHED'] },
    source: { enum: ['receipt', 'pull'] },
    receiptEventId: optStr,
  }),

  // inbound and opt-out
  'inbound.received.v1': obj(['inboundId', 'supplierAccount', 'mobile', 'content', 'receivedAt'], {
    inboundId: str,
    supplierAccount: str,
    vendor: optStr,
    mobile: str,
    content: optStr,
    receivedAt: time,
    tenantId: optStr,
    linkedMessageId: optStr,
    extendCode: optStr,
    signName: optStr,
  }),
  'mobile.opted-out.v1': obj(['tenantId', 'mobile', 'keyword'], {
    tenantId: str,
    mobile: str,
    keyword: str,
    inboundId: optStr,
  }),
  // back in to the tenant's marketing: a START-style reply, or DELETE /v1/opt-outs/{mobile} (keyword API)
  'mobile.opted-in.v1': obj(['tenantId', 'mobile', 'keyword'], {
    tenantId: str,
    mobile: str,
    keyword: str,
    inboundId: optStr,
  }),

  // callback endpoints (stream callback-<id>), delivered to by processors/callbacks
  'callback.registered.v1': obj(['callbackId', 'tenantId', 'url', 'events', 'sealedSecret'], {
    callbackId: str,
    tenantId: str,
    url: str,
    events: callbackEvents,
    sealedSecret: str,
  }),
  'callback.updated.v1': obj(['callbackId'], {
    callbackId: str,
    url: str,
    events: callbackEvents,
    sealedSecret: str,
  }),
  'callback.deleted.v1': obj(['callbackId'], { callbackId: str }),
  'callback.paused.v1': obj(['callbackId', 'reason', 'failingSince'], {
    callbackId: str,
    reason,
    failingSince: time,
  }),
  'callback.resumed.v1': obj(['callbackId'], { callbackId: str }),
  'callback.test-requested.v1': obj(['callbackId', 'testId'], { callbackId: str, testId: str }),
  'callback.replay-requested.v1': obj(['callbackId'], {
    callbackId: str,
    deliveryIds: { type: 'array', minItems: 1, maxItems: 1000, items: str },
  }),
  'callback.delivery-dead-lettered.v1': obj(
    ['callbackId', 'deliveryId', 'eventId', 'attempts', 'lastError'],
    { callbackId: str, deliveryId: str, eventId: str, attempts: int, lastError: optStr },
  ),

  // jobs
  'retention.applied.v1': obj(['tenantId', 'count', 'from', 'to'], {
    tenantId: str,
    count: int,
    from: time,
    to: time,
    cutoff: time,
  }),
};

export type EventType = keyof typeof eventSchemas;
