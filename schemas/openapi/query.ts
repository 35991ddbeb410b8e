// The query service: its query-string schemas (the service validates with
// these very objects) and its OpenAPI paths.
import { callbackDeliveryView, callbackView } from '../http/index.ts';

type Schema = Record<string, unknown>;

// parameters ---------------------------------------------------------------
export const afterParam = {
  type: 'integer',
  minimum: 0,
  description:
    'Read-your-writes: wait (at most STREAMING_READ_WAIT_MS) until the read model has applied this ' +
    'event position, as returned by the command API; otherwise 503 READ_MODEL_LAGGING with Retry-After. ' +
    "A position beyond the event store's last one is 400 POSITION_AHEAD_OF_STORE at once.",
} as const;
export const limitParam = { type: 'integer', minimum: 1, maximum: 200, default: 50 } as const;
export const cursorParam = {
  type: 'string',
  minLength: 1,
  maxLength: 512,
  description: 'The nextCursor of the previous page (opaque).',
} as const;
export const timeParam = { type: 'string', format: 'date-time' } as const;
export const mobileParam = {
  type: 'string',
  // a '+' left unencoded in a query string arrives as a space
  pattern: '^[+ ]?[1-9][0-9]{6,14}$',
  description: 'E.164, e.g. +8613800138000 (encode + as %2B).',
} as const;
export const tenantParam = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  description: 'Admins: only this tenant. Members may give only their own id.',
} as const;
export const messageStatuses = [
  'accepted',
  'submitted',
  'uncertain',
  'delivered',
  'undelivered',
  'failed',
  'expired',
  'cancelled',
] as const;
const templateCode = { type: 'string', minLength: 1, maxLength: 128 } as const;

const query = (properties: Record<string, unknown>) =>
  ({ type: 'object', additionalProperties: false, properties }) as const;

export const listMessagesQuery = query({
  mobile: mobileParam,
  template: { ...templateCode, description: 'Template code.' },
  status: { enum: messageStatuses },
  from: { ...timeParam, description: 'Accepted at or after (inclusive).' },
  to: { ...timeParam, description: 'Accepted before (exclusive).' },
  tenant: tenantParam,
  limit: limitParam,
  cursor: cursorParam,
  after: afterParam,
});
export const getMessageQuery = query({ after: afterParam });
export const listTemplatesQuery = query({
  status: { enum: ['enabled', 'disabled'] },
  kind: { enum: ['verification', 'notification', 'marketing'] },
  tenant: tenantParam,
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
  cursor: cursorParam,
  after: afterParam,
});
export const getTemplateQuery = query({ tenant: tenantParam, after: afterParam });
export const listTenantsQuery = query({
  status: { enum: ['trial', 'active', 'suspended'] },
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
  cursor: cursorParam,
  after: afterParam,
});
export const getTenantQuery = query({ after: afterParam });
export const listSignaturesQuery = query({ tenant: tenantParam, after: afterParam });
export const listInboundQuery = query({
  mobile: mobileParam,
  from: timeParam,
  to: timeParam,
  tenant: tenantParam,
  limit: limitParam,
  cursor: cursorParam,
  after: afterParam,
});
export const exportMessagesQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  properties: {
    from: timeParam,
    to: timeParam,
    format: { enum: ['csv', 'ndjson'], default: 'ndjson' },
    mask: {
      type: 'boolean',
      default: true,
      description:
        'false: mobile numbers in clear, for people logged in (admins or the tenant); API keys: 403.',
    },
    tenant: tenantParam,
  },
} as const;
export const listOptOutsQuery = query({
  mobile: mobileParam,
  tenant: tenantParam,
  limit: limitParam,
  cursor: cursorParam,
  after: afterParam,
});
export const listCallbacksQuery = query({ after: afterParam });
export const getCallbackQuery = query({ after: afterParam });
export const signingSecretQuery = query({});
export const listDeliveriesQuery = query({
  status: {
    enum: ['pending', 'delivered', 'failed'],
    description:
      'failed: dead-lettered (given up after STREAMING_CALLBACK_RETRY_FOR); replay them.',
  },
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
  cursor: cursorParam,
  after: afterParam,
});
export const statsQuery = query({
  from: { ...timeParam, description: 'Default: 24 hours (hour) or 30 days (day) before to.' },
  to: { ...timeParam, description: 'Default: the end of the current hour.' },
  granularity: {
    enum: ['hour', 'day'],
    default: 'hour',
    description: 'At most 31 days of hours, 400 days of days.',
  },
  tenant: tenantParam,
  after: afterParam,
});
export const supplierStatsQuery = query({
  from: { ...timeParam, description: 'Default: one hour before to.' },
  to: { ...timeParam, description: 'Default: now. The window may span at most 31 days.' },
});
export const pipelineQuery = query({});
export const jobsQuery = query({
  runs: {
    type: 'integer',
    minimum: 0,
    maximum: 100,
    default: 10,
    description: 'How many of the last finished runs to list per job.',
  },
});
export const auditExportQuery = query({
  tenant: tenantParam,
  from: timeParam,
  to: timeParam,
  format: { enum: ['ndjson', 'csv'], default: 'ndjson' },
  after: afterParam,
});

// responses ----------------------------------------------------------------
const nullableString = { type: ['string', 'null'] } as const;
const time = { type: ['string', 'null'], format: 'date-time' } as const;

const message = {
  type: 'object',
  properties: {
    messageId: { type: 'string' },
    tenantId: { type: 'string' },
    templateId: { type: 'string' },
    templateCode: { type: 'string' },
    kind: { type: 'string' },
    mobile: { type: 'string' },
    content: { ...nullableString, description: 'Verification codes masked.' },
    segments: { type: 'integer' },
    encoding: { type: 'string' },
    status: { enum: messageStatuses },
    supplierAccount: nullableString,
    supplierMessageId: nullableString,
    attempts: { type: 'integer' },
    error: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: nullableString },
    },
    acceptedAt: time,
    submittedAt: time,
    deliveredAt: time,
    updatedAt: time,
  },
} as const;
const page = (item: Schema) => ({
  type: 'object',
  properties: { items: { type: 'array', items: item }, nextCursor: nullableString },
});
const tenant = {
  type: 'object',
  properties: {
    tenantId: { type: 'string' },
    status: { enum: ['trial', 'active', 'suspended'] },
    limits: {
      type: 'object',
      description: 'The limits an admin set (the deployment defaults apply to the others)',
    },
    verifiedNumbers: { type: 'integer' },
    suspendedReason: nullableString,
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};
const template = {
  type: 'object',
  properties: {
    templateId: { type: 'string' },
    tenantId: { type: 'string' },
    templateCode: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string' },
    signature: { type: 'string' },
    content: { type: 'string' },
    suppliers: { type: 'array', items: { type: 'string' } },
    policy: { type: 'object' },
    verification: { type: ['object', 'null'] },
    extendCode: { ...nullableString, description: 'SMS extension code, digits.' },
    quietHours: {
      type: ['object', 'null'],
      description:
        'Marketing only: {start, end, timeZone}; a marketing send inside them is held until they end.',
    },
    status: { enum: ['enabled', 'disabled'] },
    bindings: {
      type: 'array',
      description:
        'Per supplier account: the vendor template and its review. Messages go only through approved ones.',
      items: {
        type: 'object',
        properties: {
          account: { type: 'string' },
          vendorTemplateId: {
            ...nullableString,
            description: 'Aliyun SMS_…, Tencent a number; null until the vendor took it.',
          },
          status: { enum: ['pending', 'approved', 'rejected'] },
          reason: {
            type: 'string',
            description: 'Why the vendor (or the binding check) refused it.',
          },
          params: {
            type: 'array',
            items: { type: 'string' },
            description: "Placeholder names in the vendor template's order.",
          },
        },
      },
    },
    createdAt: time,
    updatedAt: time,
  },
} as const;
const signature = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    tenantId: { type: 'string' },
    accounts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          account: { type: 'string' },
          status: { enum: ['pending', 'approved', 'rejected'] },
          reason: { type: 'string' },
        },
      },
    },
    createdAt: time,
    updatedAt: time,
  },
} as const;
const inbound = {
  type: 'object',
  properties: {
    inboundId: { type: 'string' },
    tenantId: nullableString,
    supplierAccount: { type: 'string' },
    vendor: nullableString,
    mobile: { type: 'string' },
    content: nullableString,
    receivedAt: time,
    linkedMessageId: nullableString,
    optOutKeyword: nullableString,
  },
} as const;
const optOut = {
  type: 'object',
  properties: {
    tenantId: { type: 'string' },
    mobile: { type: 'string' },
    keyword: {
      ...nullableString,
      description: 'STOP, 退订, … from a reply; API from POST /v1/opt-outs.',
    },
    inboundId: nullableString,
    optedOutAt: time,
  },
} as const;
const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const;
const stats = {
  type: 'object',
  properties: {
    granularity: { enum: ['hour', 'day'] },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    buckets: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          start: { type: 'string', format: 'date-time' },
          total: { type: 'integer' },
          byStatus: counts,
          bySupplier: { ...counts, description: '"none" for messages no supplier took yet.' },
          byTemplate: counts,
          receiptLatencyMs: {
            type: ['object', 'null'],
            description:
              "From the submission to the arrival of its delivery report, over the bucket's delivered messages (nearest rank); null without any.",
            properties: {
              count: { type: 'integer' },
              p50: { type: 'number' },
              p90: { type: 'number' },
              p99: { type: 'number' },
            },
          },
        },
      },
    },
  },
} as const;
const breaker = {
  type: ['object', 'null'],
  description:
    'The circuit breaker as the dispatchers left it in Redis: closed (calls go), open (skipped until openUntil), probe (one call tests it).',
  properties: {
    state: { enum: ['closed', 'open', 'probe'] },
    consecutiveFailures: { type: 'integer' },
    openUntil: time,
    windowCalls: { type: 'integer', description: "Calls in the breaker's current window." },
    windowErrors: { type: 'integer' },
  },
} as const;
const part = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    kind: { enum: ['processor', 'projection'] },
    state: { enum: ['progressing', 'lagging', 'stalled', 'standby', 'starting'] },
    process: { type: 'string' },
    pid: { type: 'integer' },
    position: { type: ['integer', 'null'], description: 'Event-store position handled so far.' },
    lag: { type: ['integer', 'null'], description: 'Events between its position and the head.' },
    lagSeconds: {
      type: 'number',
      description: 'Age of the oldest event it has not handled yet (0 when caught up).',
    },
    pending: { type: ['integer', 'null'], description: 'Work waiting not measured in events.' },
    idleSeconds: { type: 'integer', description: 'Since its position or pending work last moved.' },
    parked: { type: ['integer', 'null'], description: 'Events parked after every attempt failed.' },
    error: nullableString,
  },
} as const;
const jobRun = {
  type: 'object',
  properties: {
    job: { type: 'string' },
    trigger: { enum: ['schedule', 'manual'] },
    tick: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time' },
    endedAt: { type: 'string', format: 'date-time' },
    status: { enum: ['running', 'succeeded', 'failed', 'aborted'] },
    holder: { type: 'string' },
    token: { type: 'integer' },
    result: { type: 'object' },
    error: { type: 'string' },
  },
} as const;
const job = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    schedule: { type: 'string', description: 'Cron expression, UTC.' },
    nextRun: time,
    lastRun: { anyOf: [jobRun, { type: 'null' }] },
    holder: { ...nullableString, description: 'Who holds its lock now (a run in progress).' },
    runs: { type: 'array', items: jobRun, description: 'The last finished runs, newest first.' },
  },
} as const;

// paths --------------------------------------------------------------------
const AUTH = ['UNAUTHENTICATED', 'INVALID_TOKEN', 'API_KEY_REVOKED'];
const READ = ['VALIDATION_FAILED', 'READ_MODEL_LAGGING', ...AUTH];

function parameters(schema: { properties: Record<string, unknown> }, path: string[] = []) {
  return [
    ...path.map((name) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string', minLength: 1 },
    })),
    ...Object.entries(schema.properties).map(([name, s]) => ({
      name,
      in: 'query',
      required: false,
      schema: s,
      ...(typeof (s as { description?: unknown }).description === 'string'
        ? { description: (s as { description: string }).description }
        : {}),
    })),
  ];
}

function get(
  summary: string,
  q: { properties: Record<string, unknown> },
  response: Schema | { content: Record<string, unknown> },
  errors: string[],
  path: string[] = [],
) {
  return {
    get: {
      summary,
      tags: ['query'],
      security: [{ bearer: [] }],
      parameters: parameters(q, path),
      responses: {
        '200': {
          description: summary,
          content:
            'content' in response ? response.content : { 'application/json': { schema: response } },
        },
        default: {
          description: `Problem; code one of: ${errors.join(', ')}`,
          content: {
            'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
          },
        },
      },
      'x-error-codes': errors,
    },
  };
}

export const queryPaths: Record<string, Record<string, unknown>> = {
  '/v1/messages': get(
    'Send history, newest first; a member sees their own, an admin all',
    listMessagesQuery,
    page(message),
    ['INVALID_CURSOR', 'INVALID_RANGE', 'FORBIDDEN', ...READ],
  ),
  '/v1/messages/{id}': get(
    'One message with its timeline (state changes and supplier attempts)',
    getMessageQuery,
    {
      ...message,
      properties: {
        ...message.properties,
        timeline: {
          type: 'object',
          properties: { states: { type: 'array' }, attempts: { type: 'array' } },
        },
      },
    },
    ['MESSAGE_NOT_FOUND', ...READ],
    ['id'],
  ),
  '/v1/templates': get('Templates', listTemplatesQuery, page(template), [
    'INVALID_CURSOR',
    'FORBIDDEN',
    ...READ,
  ]),
  '/v1/templates/{code}': get(
    'One template by code',
    getTemplateQuery,
    template,
    ['TEMPLATE_NOT_FOUND', 'FORBIDDEN', ...READ],
    ['code'],
  ),
  '/v1/tenants': get('Tenants (admins: all; a member: its own)', listTenantsQuery, page(tenant), [
    'INVALID_CURSOR',
    ...READ,
  ]),
  '/v1/tenants/{id}': get(
    'One tenant: status, limits, verified numbers',
    getTenantQuery,
    tenant,
    ['TENANT_NOT_FOUND', ...READ],
    ['id'],
  ),
  '/v1/signatures': get(
    'Signatures with their review per supplier account',
    listSignaturesQuery,
    { type: 'object', properties: { items: { type: 'array', items: signature } } },
    ['FORBIDDEN', ...READ],
  ),
  '/v1/inbound': get('Inbound (MO) messages, newest first', listInboundQuery, page(inbound), [
    'INVALID_CURSOR',
    'INVALID_RANGE',
    'FORBIDDEN',
    ...READ,
  ]),
  '/v1/messages/export': get(
    'The tenant’s message history from from to to (at most 366 days), streamed as NDJSON or CSV; mobile numbers masked unless mask=false by a person logged in',
    exportMessagesQuery,
    {
      content: {
        'application/x-ndjson': {
          schema: { type: 'string', description: 'One message per line.' },
        },
        'text/csv': {
          schema: { type: 'string', description: 'A header row, then one per message.' },
        },
      },
    },
    ['INVALID_RANGE', 'FORBIDDEN', ...READ],
  ),
  '/v1/opt-outs': get(
    'Numbers opted out of the tenant’s marketing templates now (a STOP-style reply or POST /v1/opt-outs; a START, 订阅 or UNSTOP reply or DELETE opts back in), newest first',
    listOptOutsQuery,
    page(optOut),
    ['INVALID_CURSOR', 'FORBIDDEN', ...READ],
  ),
  '/v1/stats': get(
    'Messages accepted per hour or day, by status, supplier and template',
    statsQuery,
    stats,
    ['INVALID_RANGE', 'FORBIDDEN', ...READ],
  ),
  '/v1/stats/suppliers': get(
    'Supplier accounts (admins): calls, outcomes, success rate, latency percentiles and vendor error codes per account, from the tracking events',
    supplierStatsQuery,
    {
      type: 'object',
      properties: {
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time' },
        minutes: { type: 'integer' },
        percentiles: { enum: ['exact', 'approximate'] },
        suppliers: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              account: { type: 'string' },
              vendor: { type: 'string' },
              calls: { type: 'integer' },
              outcomes: counts,
              successRate: { type: ['number', 'null'] },
              latencyMs: { type: 'object' },
              rejections: { type: 'array' },
              maxPerSecond: {
                type: ['integer', 'null'],
                description: 'The throughput cap configured for the account.',
              },
              breaker,
              health: {
                enum: ['healthy', 'degraded', 'probing', 'down', 'unknown'],
                description:
                  'down: breaker open; probing: one call tests it; degraded: consecutive failures, or 10 % of the calls in the breaker window failed.',
              },
            },
          },
        },
        sendRejections: { type: 'array' },
        series: {
          type: 'object',
          description:
            'Calls per bucket and account over the window (at most about 120 buckets), for charts.',
          properties: {
            bucketSeconds: { type: 'integer' },
            starts: { type: 'array', items: { type: 'string', format: 'date-time' } },
            accounts: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  account: { type: 'string' },
                  calls: { type: 'array', items: { type: 'integer' } },
                  failed: {
                    type: 'array',
                    items: { type: 'integer' },
                    description: 'Calls with another outcome than accepted.',
                  },
                },
              },
            },
          },
        },
      },
    },
    ['INVALID_RANGE', 'FORBIDDEN', 'VALIDATION_FAILED', ...AUTH],
  ),
  '/v1/pipeline': get(
    'Processors and projections of every process (admins): state, lag in events and seconds, parked events',
    pipelineQuery,
    {
      type: 'object',
      properties: {
        head: { type: 'integer', description: "The event store's last position." },
        at: { type: 'string', format: 'date-time' },
        parts: { type: 'array', items: part },
      },
    },
    ['FORBIDDEN', 'VALIDATION_FAILED', ...AUTH],
  ),
  '/v1/jobs': get(
    'Scheduled jobs (admins): schedule, next run, lock holder and the last runs',
    jobsQuery,
    { type: 'object', properties: { items: { type: 'array', items: job } } },
    ['FORBIDDEN', 'VALIDATION_FAILED', ...AUTH],
  ),
  '/v1/audit/export': get(
    'Audit export (admins): one record per event with a sha256 hash chain and a closing manifest line',
    auditExportQuery,
    {
      content: {
        'application/x-ndjson': { schema: { type: 'string' } },
        'text/csv': { schema: { type: 'string' } },
      },
    },
    ['INVALID_RANGE', 'FORBIDDEN', ...READ],
  ),
  '/v1/callbacks': get(
    "The tenant's callback endpoints (a paused one says why)",
    listCallbacksQuery,
    { type: 'object', properties: { items: { type: 'array', items: callbackView } } },
    ['POSITION_AHEAD_OF_STORE', ...READ],
  ),
  '/v1/callbacks/signing-secret': get(
    "The secret that signs callbacks to a send's own statusCallback URL",
    signingSecretQuery,
    { type: 'object', properties: { secret: { type: 'string' } } },
    [...READ],
  ),
  '/v1/callbacks/{id}': get(
    'One callback endpoint',
    getCallbackQuery,
    callbackView,
    ['CALLBACK_NOT_FOUND', 'POSITION_AHEAD_OF_STORE', ...READ],
    ['id'],
  ),
  '/v1/callbacks/{id}/deliveries': get(
    "An endpoint's deliveries, oldest first; ?status=failed lists the dead-lettered ones",
    listDeliveriesQuery,
    page(callbackDeliveryView),
    ['CALLBACK_NOT_FOUND', 'INVALID_CURSOR', 'POSITION_AHEAD_OF_STORE', ...READ],
    ['id'],
  ),
};
