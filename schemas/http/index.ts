// JSON Schemas of the command API's request and response bodies. The same
// objects feed ajv (validateBody) and the OpenAPI document (schemas/openapi).
import { extendCodeSchema, tenantLimitsSchema, type JsonSchema } from '../events.ts';

function obj(
  required: string[],
  properties: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): JsonSchema {
  return { type: 'object', required, additionalProperties: false, properties, ...extra };
}

const text = (maxLength: number, description?: string) => ({
  type: 'string',
  minLength: 1,
  maxLength,
  ...(description ? { description } : {}),
});
const time = { type: 'string', format: 'date-time' } as const;
const templateCode = {
  ...text(64, 'The public code of the template.'),
  pattern: '^[A-Za-z0-9_-]+$',
};
const mobile = text(
  32,
  'Mobile number; national Chinese numbers become +86…, others need +<country>.',
);

// Limits are whole numbers; ranges (negative, hourly above daily, …) are
// checked by the domain, which answers POLICY_INVALID naming the field.
const count = { type: 'integer' } as const;
export const policyBody = obj(
  [],
  {
    mobile: obj([], {
      minIntervalSeconds: { ...count, description: 'Seconds between two sends to one mobile.' },
      maxPerHour: { ...count, description: 'Sends per mobile per clock hour (UTC+8).' },
      maxPerDay: { ...count, description: 'Sends per mobile per day (UTC+8).' },
    }),
    template: obj([], { maxPerDay: count }),
    tenant: obj([], { maxPerDay: count }),
  },
  { description: 'Rate limits. Verification templates default to 60 s / 5 per hour / 10 per day.' },
);

export const verificationSettingsBody = obj(
  [],
  {
    codeLength: { type: 'integer', description: 'Digits of a code, 4 to 8 (default 6).' },
    ttlSeconds: { type: 'integer', description: 'Seconds a code stays valid (default 300).' },
    maxAttempts: { type: 'integer', description: 'Checks allowed per code, 1–10 (default 5).' },
  },
  { description: 'Only for verification templates.' },
);

const extendCode = {
  ...extendCodeSchema,
  description:
    'SMS extension code, 1–6 digits, appended to the sender number (Aliyun SmsUpExtendCode, ' +
    'Tencent ExtendCode); a reply that comes back with it is linked to this tenant. ' +
    'The supplier account must have extension codes enabled.',
};

const quietHours = obj(
  ['start', 'end'],
  {
    start: { type: 'string', description: 'Local time they begin, HH:MM or HH:MM:SS (24 h).' },
    end: {
      type: 'string',
      description: 'Local time they end, HH:MM or HH:MM:SS; held messages leave then.',
    },
    timeZone: {
      type: 'string',
      description: 'IANA time zone of the recipients (default Asia/Shanghai).',
    },
  },
  {
    description:
      'Marketing templates only: a send that falls inside these hours (they may cross ' +
      'midnight, e.g. 21:00–08:00) is accepted and held until they end (notBefore). ' +
      'Errors: QUIET_HOURS_INVALID (422) with details.reason NOT_MARKETING, BAD_TIME, ' +
      'UNKNOWN_TIME_ZONE or EMPTY_WINDOW.',
  },
);

const suppliers = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 63 },
  maxItems: 16,
  uniqueItems: true,
  description: 'Supplier account ids in failover order; default: the deployment order.',
};

export const registerUserBody = obj(['username', 'password'], {
  username: { type: 'string', maxLength: 64, description: '3–32 of a-z 0-9 _ . -' },
  password: { type: 'string', maxLength: 256, description: 'At least 10 characters.' },
  email: { type: 'string', maxLength: 254 },
  phone: { type: 'string', maxLength: 32 },
});
export const registerUserResponse = obj(['userId'], { userId: { type: 'string' } });

export const loginBody = obj(['username', 'password'], {
  username: { type: 'string', maxLength: 64 },
  password: { type: 'string', maxLength: 256 },
});
export const loginResponse = obj(['token', 'expiresAt'], {
  token: { type: 'string', description: 'JWT (HS256); send as Authorization: Bearer <token>.' },
  expiresAt: time,
});

export const changePasswordBody = obj(['currentPassword', 'newPassword'], {
  currentPassword: { type: 'string', maxLength: 256 },
  newPassword: { type: 'string', maxLength: 256, description: 'At least 10 characters.' },
});
export const userDisabledResponse = obj(['userId', 'disabled'], {
  userId: { type: 'string' },
  disabled: { type: 'boolean' },
});

export const verifyNumberBody = obj(['mobile'], {
  mobile: { type: 'string', maxLength: 32, description: 'The number to verify (trial tenants).' },
});
export const checkNumberBody = obj(['mobile', 'code'], {
  mobile: { type: 'string', maxLength: 32 },
  code: { type: 'string', maxLength: 16 },
});
export const verifiedNumberResponse = obj(['mobile', 'verified'], {
  mobile: { type: 'string', description: 'E.164' },
  verified: { type: 'boolean' },
});
export const numberCodeResponse = obj(['messageId', 'expiresAt'], {
  messageId: { type: 'string' },
  expiresAt: time,
});
export const suspendTenantBody = obj([], { reason: { type: 'string', maxLength: 500 } });
export const setTenantLimitsBody = tenantLimitsSchema;
export const tenantResponse = obj(['tenantId', 'status', 'limits', 'verifiedNumbers'], {
  tenantId: { type: 'string' },
  status: { enum: ['trial', 'active', 'suspended'] },
  limits: obj(['maxPerDay', 'maxPerSecond', 'mobileMaxPerDay', 'countries'], {
    maxPerDay: { type: 'integer', description: '0: no cap' },
    maxPerSecond: { type: 'integer', description: '0: no cap' },
    mobileMaxPerDay: { type: 'integer', description: '0: no cap' },
    countries: { type: 'array', items: { type: 'string' } },
  }),
  verifiedNumbers: { type: 'integer' },
});

export const liftGuardBody = obj(['tenantId', 'prefix'], {
  tenantId: { type: 'string', maxLength: 128 },
  prefix: { type: 'string', maxLength: 16, description: 'As listed, e.g. +8613800' },
});
export const guardListResponse = obj(['items'], {
  items: {
    type: 'array',
    items: obj(['tenantId', 'prefix', 'sent', 'verified', 'windowSeconds', 'trippedAt', 'until'], {
      tenantId: { type: 'string' },
      prefix: { type: 'string' },
      sent: { type: 'integer' },
      verified: { type: 'integer' },
      windowSeconds: { type: 'integer' },
      trippedAt: time,
      until: time,
    }),
  },
});

export const createApiKeyBody = obj([], { name: { type: 'string', maxLength: 100 } });
export const createApiKeyResponse = obj(['id', 'key'], {
  id: { type: 'string' },
  key: { type: 'string', description: 'Shown once; stored only hashed.' },
});
export const apiKeyListResponse = obj(['items'], {
  items: {
    type: 'array',
    items: obj(['id', 'name', 'userId', 'revoked', 'createdAt'], {
      id: { type: 'string' },
      name: { type: 'string' },
      userId: { type: 'string' },
      revoked: { type: 'boolean' },
      createdAt: time,
      revokedAt: time,
    }),
  },
});

export const createTemplateBody = obj(['name', 'kind', 'signature', 'content'], {
  name: text(100),
  kind: { enum: ['verification', 'notification', 'marketing'] },
  signature: text(32, 'Signature without 【】.'),
  content: text(1000, 'Text with ${name} placeholders; verification templates need ${code}.'),
  suppliers,
  policy: policyBody,
  verification: verificationSettingsBody,
  extendCode,
  quietHours,
});
export const createTemplateResponse = obj(['templateId', 'templateCode'], {
  templateId: { type: 'string' },
  templateCode: { type: 'string' },
});
export const updateTemplateBody = obj(
  [],
  {
    signature: text(32, 'A new signature (without 【】); the template is reviewed again.'),
    content: text(1000, 'New content; the template is reviewed again by each account.'),
    suppliers,
    policy: policyBody,
    verification: verificationSettingsBody,
    extendCode: {
      anyOf: [extendCode, { type: 'null' }],
      description: 'A new extension code, or null to remove it.',
    },
    quietHours: {
      anyOf: [quietHours, { type: 'null' }],
      description: 'New quiet hours (marketing only), or null to remove them.',
    },
  },
  { minProperties: 1 },
);
export const templateStateResponse = obj(['templateCode', 'enabled', 'version'], {
  templateCode: { type: 'string' },
  enabled: { type: 'boolean' },
  version: { type: 'integer' },
});
export const templateCodeParam = templateCode;

export const bindTemplateBody = obj(['account', 'vendorTemplateId'], {
  account: text(63, 'A supplier account of the template.'),
  vendorTemplateId: text(
    64,
    "The vendor's id of a template already approved there (Aliyun SMS_…, Tencent a number).",
  ),
});
export const bindTemplateResponse = obj(['templateCode', 'account', 'vendorTemplateId', 'status'], {
  templateCode: { type: 'string' },
  account: { type: 'string' },
  vendorTemplateId: { type: 'string' },
  status: { enum: ['pending', 'approved', 'rejected'] },
});

export const registerSignatureBody = obj(['name'], {
  name: text(12, 'The signature as it appears in 【】, without them; 2–12 characters.'),
  accounts: {
    ...suppliers,
    description: 'Supplier accounts to submit it to; default: the deployment order.',
  },
});
export const registerSignatureResponse = obj(['name', 'accounts', 'status'], {
  name: { type: 'string' },
  accounts: { type: 'array', items: { type: 'string' } },
  status: { enum: ['pending'] },
});

const sendParams = {
  type: 'object',
  additionalProperties: { type: 'string', maxLength: 500 },
  maxProperties: 50,
  description: 'Exactly the placeholders of the template.',
} as const;
const sendAt = {
  type: 'string',
  format: 'date-time',
  maxLength: 64,
  description:
    'Send at this time (RFC 3339 with a time zone), in the future and at most 30 days ahead; ' +
    'else 422 SEND_AT_IN_PAST / SEND_AT_TOO_FAR. The limits are checked at send time: a refusal ' +
    'then ends the message as failed with the rule as its error code.',
} as const;
export const sendMessageBody = obj(['templateCode', 'mobile'], {
  templateCode,
  mobile,
  params: sendParams,
  sendAt,
  statusCallback: text(
    2048,
    "http(s) URL told of this message's status changes (signed with GET /v1/callbacks/signing-secret), besides the tenant's callback endpoints.",
  ),
});
const acceptedFields = {
  messageId: { type: 'string', format: 'uuid' },
  segments: { type: 'integer', minimum: 1 },
  encoding: { enum: ['GSM-7', 'UCS-2'] },
  position: { type: 'integer', description: 'Global event position, for read-your-writes.' },
  sendAt: { type: 'string', format: 'date-time', description: 'The time asked for.' },
  notBefore: {
    type: 'string',
    format: 'date-time',
    description: 'Not dispatched before this: sendAt, or the end of the quiet hours.',
  },
} as const;
export const sendMessageResponse = obj(
  ['messageId', 'segments', 'encoding', 'position'],
  acceptedFields,
);

export const cancelMessageResponse = obj(['messageId', 'status', 'cancelledAt'], {
  messageId: { type: 'string', format: 'uuid' },
  status: { enum: ['cancelled'] },
  cancelledAt: { type: 'string', format: 'date-time' },
});

/** At most this many recipients in one POST /v1/messages/batch. */
export const MAX_BATCH_RECIPIENTS = 1000;
export const sendBatchBody = obj(['templateCode', 'recipients'], {
  templateCode,
  recipients: {
    type: 'array',
    minItems: 1,
    maxItems: MAX_BATCH_RECIPIENTS,
    items: obj(['mobile'], { mobile, params: sendParams }),
    description: 'Each recipient is a message of its own, with its own limits.',
  },
  sendAt,
});
export const sendBatchResponse = obj(['batchId', 'accepted', 'refused', 'results'], {
  batchId: { type: 'string', format: 'uuid' },
  accepted: { type: 'integer', minimum: 0 },
  refused: { type: 'integer', minimum: 0 },
  results: {
    type: 'array',
    description: 'One per recipient, in the order given.',
    items: {
      oneOf: [
        obj(['index', 'mobile', 'status', 'messageId'], {
          index: { type: 'integer', minimum: 0 },
          mobile: { type: 'string' },
          status: { enum: ['accepted'] },
          ...acceptedFields,
        }),
        obj(['index', 'mobile', 'status', 'code', 'message'], {
          index: { type: 'integer', minimum: 0 },
          mobile: { type: 'string' },
          status: { enum: ['refused'] },
          code: { type: 'string', description: 'A stable error code, as for POST /v1/messages.' },
          message: { type: 'string' },
          details: { type: 'object' },
        }),
      ],
    },
  },
});

export const requestVerificationBody = obj(['templateCode', 'mobile'], {
  templateCode,
  mobile,
  params: {
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 500 },
    maxProperties: 50,
    description: 'Other placeholders of the template, if any (never code: the service draws it).',
  },
});
export const requestVerificationResponse = obj(['messageId', 'expiresAt'], {
  messageId: { type: 'string', format: 'uuid' },
  expiresAt: time,
  position: { type: 'integer' },
});
export const checkVerificationBody = obj(['templateCode', 'mobile', 'code'], {
  templateCode,
  mobile,
  code: { type: 'string', pattern: '^[0-9]{1,16}$' },
});
export const checkVerificationResponse = obj(['valid'], { valid: { const: true } });

export const problemResponse = obj(
  ['code', 'message', 'requestId'],
  {
    code: { type: 'string', description: 'Stable error code.' },
    message: { type: 'string' },
    requestId: { type: ['string', 'null'] },
    details: { type: 'object' },
  },
  { additionalProperties: true },
);

export const optOutBody = obj(['mobile'], { mobile });
export const optOutResponse = obj(['mobile', 'optedOut'], {
  mobile: { type: 'string', description: 'E.164.' },
  optedOut: { type: 'boolean' },
});
// callback endpoints -------------------------------------------------------
const callbackEventNames = [
  'message.submitted',
  'message.delivered',
  'message.undelivered',
  'message.failed',
  'message.expired',
  'message.cancelled',
  'inbound.received',
  'mobile.opted-out',
];
const callbackUrl = text(
  2048,
  'http(s) URL that is POSTed each event; in production it must resolve to public addresses only.',
);
const callbackEventList = {
  type: 'array',
  minItems: 1,
  maxItems: callbackEventNames.length,
  items: { type: 'string', maxLength: 40 },
  description: `Events to deliver: ${callbackEventNames.join(', ')}.`,
};
const callbackSecret = {
  type: 'string',
  minLength: 16,
  maxLength: 200,
  description: 'Signing secret (at least 16 characters); generated (whsec_…) when left out.',
};
export const registerCallbackBody = obj(['url', 'events'], {
  url: callbackUrl,
  events: callbackEventList,
  secret: callbackSecret,
});
export const updateCallbackBody = obj(
  [],
  { url: callbackUrl, events: callbackEventList, secret: callbackSecret },
  { description: 'What to change; any update also resumes a paused endpoint.' },
);
export const replayCallbackBody = obj([], {
  deliveryIds: {
    type: 'array',
    minItems: 1,
    maxItems: 1000,
    items: { type: 'string', minLength: 1, maxLength: 64 },
    description: 'Dead-lettered deliveries to send again; all of them when left out.',
  },
});
export const callbackView = obj(['callbackId', 'url', 'events', 'status'], {
  callbackId: { type: 'string' },
  url: { type: 'string' },
  events: { type: 'array', items: { enum: callbackEventNames } },
  status: { enum: ['active', 'paused'] },
  paused: obj(['code', 'message', 'at'], {
    code: { type: 'string' },
    message: { type: 'string' },
    at: time,
  }),
  failingSince: time,
  lastError: { type: 'string' },
  createdAt: time,
  updatedAt: time,
  secret: {
    type: 'string',
    description:
      'The signing secret: only in the answer to POST /v1/callbacks and to an update that sets it.',
  },
});
export const callbackRequestAnswer = obj(['callbackId', 'position'], {
  callbackId: { type: 'string' },
  testEventId: { type: 'string', description: 'The event id the test delivery carries.' },
  position: { type: 'integer', description: 'Global event position, for read-your-writes.' },
});
export const callbackDeliveryView = obj(
  ['deliveryId', 'eventId', 'type', 'state', 'attempts', 'firstAttemptAt'],
  {
    deliveryId: { type: 'string' },
    eventId: { type: 'string' },
    type: { type: 'string' },
    messageId: { type: 'string' },
    state: { enum: ['pending', 'delivered', 'failed'] },
    attempts: { type: 'integer' },
    firstAttemptAt: time,
    nextAttemptAt: time,
    lastAttemptAt: time,
    deliveredAt: time,
    lastStatus: { type: 'integer', description: 'HTTP status of the last answer.' },
    lastError: { type: 'string' },
  },
);

// gRPC Messages.Watch (no HTTP twin): the request as the gRPC layer decodes it.
export const watchMessagesRequest = obj([], {
  afterPosition: { type: 'integer', minimum: 0 },
  messageIds: {
    type: 'array',
    items: { type: 'string', minLength: 1, maxLength: 128 },
    maxItems: 1000,
  },
  templateCode,
});
