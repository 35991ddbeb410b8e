// Paths of the command service, built from the schemas in schemas/http.
import * as http from '../http/index.ts';
import type { JsonSchema } from '../events.ts';

type Op = {
  summary: string;
  tag: string;
  body?: JsonSchema;
  status: number;
  response?: JsonSchema;
  errors: string[];
  auth?: boolean;
  params?: {
    name: string;
    in: 'path' | 'header';
    schema: JsonSchema;
    required: boolean;
    description?: string;
  }[];
};

const AUTH = [
  'UNAUTHENTICATED',
  'INVALID_TOKEN',
  'API_KEY_REVOKED',
  'TOKEN_REVOKED',
  'USER_DISABLED',
];
const BODY = ['VALIDATION_FAILED', 'MALFORMED_JSON', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
const RATE = [
  'RATE_LIMIT_MOBILE_INTERVAL',
  'RATE_LIMIT_MOBILE_HOURLY',
  'RATE_LIMIT_MOBILE_DAILY',
  'RATE_LIMIT_TEMPLATE_DAILY',
  'RATE_LIMIT_TENANT_DAILY',
  'PLATFORM_TENANT_DAILY',
  'PLATFORM_TRIAL_DAILY',
  'PLATFORM_TENANT_PER_SECOND',
  'PLATFORM_MOBILE_DAILY',
  'PLATFORM_VERIFICATION_MOBILE_DAILY',
  'TENANT_SUSPENDED',
  'TRIAL_NUMBER_NOT_VERIFIED',
  'DESTINATION_NOT_ALLOWED',
];
const TENANT_ID = [{ name: 'id', in: 'path' as const, schema: { type: 'string' }, required: true }];
const code = { name: 'code', in: 'path' as const, schema: http.templateCodeParam, required: true };

function operation(op: Op): Record<string, unknown> {
  const out: Record<string, unknown> = {
    summary: op.summary,
    tags: [op.tag],
    responses: {
      [String(op.status)]: {
        description: op.summary,
        ...(op.response ? { content: { 'application/json': { schema: op.response } } } : {}),
      },
      default: {
        description: `Problem; code one of: ${op.errors.join(', ')}`,
        content: {
          'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        },
      },
    },
    'x-error-codes': op.errors,
  };
  if (op.auth !== false) out.security = [{ bearer: [] }];
  else out.security = [];
  if (op.body) {
    out.requestBody = { required: true, content: { 'application/json': { schema: op.body } } };
  }
  if (op.params) out.parameters = op.params;
  return out;
}

export const commandPaths: Record<string, Record<string, unknown>> = {
  '/v1/users': {
    post: operation({
      summary: 'Register a user (role member)',
      tag: 'users',
      auth: false,
      body: http.registerUserBody,
      status: 201,
      response: http.registerUserResponse,
      errors: [...BODY, 'USERNAME_TAKEN', 'INVALID_MOBILE', 'REGISTRATION_THROTTLED'],
    }),
  },
  '/v1/sessions': {
    post: operation({
      summary: 'Log in: a JWT for Authorization: Bearer',
      tag: 'users',
      auth: false,
      body: http.loginBody,
      status: 200,
      response: http.loginResponse,
      errors: [...BODY, 'INVALID_CREDENTIALS', 'LOGIN_THROTTLED', 'USER_DISABLED'],
    }),
  },
  '/v1/sessions/logout': {
    post: operation({
      summary: 'Log out: this token answers 401 TOKEN_REVOKED from now on, on both APIs',
      tag: 'users',
      status: 204,
      errors: [...AUTH, 'FORBIDDEN'],
    }),
  },
  '/v1/users/me/password': {
    post: operation({
      summary: 'Change the password: every earlier token ends; answers a fresh token',
      tag: 'users',
      body: http.changePasswordBody,
      status: 200,
      response: http.loginResponse,
      errors: [...AUTH, ...BODY, 'CURRENT_PASSWORD_WRONG', 'LOGIN_THROTTLED', 'FORBIDDEN'],
    }),
  },
  '/v1/users/{id}/disable': {
    post: operation({
      summary: 'Admin: disable a user (its tokens and API keys stop at once)',
      tag: 'users',
      status: 200,
      response: http.userDisabledResponse,
      errors: [...AUTH, 'FORBIDDEN', 'USER_NOT_FOUND'],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/users/{id}/enable': {
    post: operation({
      summary: 'Admin: enable a disabled user again (it logs in anew)',
      tag: 'users',
      status: 200,
      response: http.userDisabledResponse,
      errors: [...AUTH, 'FORBIDDEN', 'USER_NOT_FOUND'],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/verification-guards': {
    get: operation({
      summary: 'Admin: the SMS-pumping guards tripped now (tenant, destination prefix, counts)',
      tag: 'verification',
      status: 200,
      response: http.guardListResponse,
      errors: [...AUTH, 'FORBIDDEN'],
    }),
  },
  '/v1/verification-guards/lift': {
    post: operation({
      summary: 'Admin: lift a tripped guard before its cool-down ends',
      tag: 'verification',
      body: http.liftGuardBody,
      status: 204,
      errors: [...AUTH, ...BODY, 'FORBIDDEN', 'NOT_FOUND'],
    }),
  },
  '/v1/verified-numbers': {
    post: operation({
      summary:
        'Trial tenants: send a code that proves the tenant owns a number (at most 5 numbers)',
      tag: 'tenants',
      body: http.verifyNumberBody,
      status: 202,
      response: http.numberCodeResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'INVALID_MOBILE',
        'TENANT_SUSPENDED',
        'DESTINATION_NOT_ALLOWED',
        'VERIFIED_NUMBERS_FULL',
        'NUMBER_ALREADY_VERIFIED',
        'PLATFORM_NUMBER_CODES_DAILY',
      ],
    }),
  },
  '/v1/verified-numbers/check': {
    post: operation({
      summary: 'Trial tenants: confirm a number with its code; sends to it go from now on',
      tag: 'tenants',
      body: http.checkNumberBody,
      status: 200,
      response: http.verifiedNumberResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'INVALID_MOBILE',
        'VERIFICATION_NOT_FOUND',
        'VERIFICATION_CODE_WRONG',
        'VERIFICATION_EXPIRED',
        'VERIFICATION_ATTEMPTS_EXHAUSTED',
      ],
    }),
  },
  '/v1/tenants/{id}/activate': {
    post: operation({
      summary: 'Admin: activate a trial or suspended tenant',
      tag: 'tenants',
      status: 200,
      response: http.tenantResponse,
      errors: [...AUTH, 'FORBIDDEN', 'TENANT_NOT_FOUND'],
      params: TENANT_ID,
    }),
  },
  '/v1/tenants/{id}/suspend': {
    post: operation({
      summary: 'Admin: suspend a tenant; its sends answer 403 TENANT_SUSPENDED',
      tag: 'tenants',
      body: http.suspendTenantBody,
      status: 200,
      response: http.tenantResponse,
      errors: [...AUTH, ...BODY, 'FORBIDDEN', 'TENANT_NOT_FOUND'],
      params: TENANT_ID,
    }),
  },
  '/v1/tenants/{id}/limits': {
    put: operation({
      summary:
        "Admin: the tenant's platform limits (daily, per second, per mobile across templates, countries); they replace the previous ones",
      tag: 'tenants',
      body: http.setTenantLimitsBody,
      status: 200,
      response: http.tenantResponse,
      errors: [...AUTH, ...BODY, 'FORBIDDEN', 'TENANT_NOT_FOUND'],
      params: TENANT_ID,
    }),
  },
  '/v1/api-keys': {
    post: operation({
      summary: 'Create an API key (shown once)',
      tag: 'api keys',
      body: http.createApiKeyBody,
      status: 201,
      response: http.createApiKeyResponse,
      errors: [...AUTH, ...BODY],
    }),
    get: operation({
      summary: 'List API keys without secrets',
      tag: 'api keys',
      status: 200,
      response: http.apiKeyListResponse,
      errors: AUTH,
    }),
  },
  '/v1/api-keys/{id}': {
    delete: operation({
      summary: 'Revoke an API key at once',
      tag: 'api keys',
      status: 204,
      errors: [...AUTH, 'NOT_FOUND'],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/templates': {
    post: operation({
      summary: 'Create a template with its rate-limit policy',
      tag: 'templates',
      body: http.createTemplateBody,
      status: 201,
      response: http.createTemplateResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'TEMPLATE_CONTENT_INVALID',
        'POLICY_INVALID',
        'UNKNOWN_SUPPLIER',
        'EXTEND_CODE_TAKEN',
        'QUIET_HOURS_INVALID',
      ],
    }),
  },
  '/v1/templates/{code}': {
    patch: operation({
      summary: 'Change signature, content, suppliers or policy (new text is reviewed again)',
      tag: 'templates',
      body: http.updateTemplateBody,
      status: 200,
      response: http.templateStateResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'TEMPLATE_NOT_FOUND',
        'TEMPLATE_CONTENT_INVALID',
        'POLICY_INVALID',
        'UNKNOWN_SUPPLIER',
        'EXTEND_CODE_TAKEN',
        'QUIET_HOURS_INVALID',
        'VERSION_CONFLICT',
      ],
      params: [code],
    }),
  },
  '/v1/templates/{code}/bindings': {
    post: operation({
      summary: 'Use a template already approved at the vendor (checked against ours)',
      tag: 'templates',
      body: http.bindTemplateBody,
      status: 202,
      response: http.bindTemplateResponse,
      errors: [...AUTH, ...BODY, 'TEMPLATE_NOT_FOUND', 'UNKNOWN_SUPPLIER', 'VERSION_CONFLICT'],
      params: [code],
    }),
  },
  '/v1/callbacks': {
    post: operation({
      summary:
        'Register a callback endpoint: streaming POSTs it each subscribed event, signed (Streaming-Signature); the answer carries the secret',
      tag: 'callbacks',
      body: http.registerCallbackBody,
      status: 201,
      response: http.callbackView,
      errors: [
        ...AUTH,
        ...BODY,
        'CALLBACK_URL_INVALID',
        'CALLBACK_URL_FORBIDDEN',
        'CALLBACK_EVENTS_INVALID',
      ],
    }),
  },
  '/v1/callbacks/{id}': {
    patch: operation({
      summary: 'Change a callback endpoint (URL, events, secret); resumes it when paused',
      tag: 'callbacks',
      body: http.updateCallbackBody,
      status: 200,
      response: http.callbackView,
      errors: [
        ...AUTH,
        ...BODY,
        'CALLBACK_NOT_FOUND',
        'CALLBACK_URL_INVALID',
        'CALLBACK_URL_FORBIDDEN',
        'CALLBACK_EVENTS_INVALID',
      ],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
    delete: operation({
      summary: 'Delete a callback endpoint; nothing more is sent to it',
      tag: 'callbacks',
      status: 204,
      errors: [...AUTH, 'CALLBACK_NOT_FOUND'],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/callbacks/{id}/resume': {
    post: operation({
      summary: 'Resume a paused callback endpoint; what waited is sent in order',
      tag: 'callbacks',
      status: 200,
      response: http.callbackView,
      errors: [...AUTH, 'CALLBACK_NOT_FOUND'],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/callbacks/{id}/test': {
    post: operation({
      summary:
        'Send a signed callback.test event to the endpoint (see its deliveries for the outcome)',
      tag: 'callbacks',
      status: 202,
      response: http.callbackRequestAnswer,
      errors: [...AUTH, 'CALLBACK_NOT_FOUND'],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/callbacks/{id}/replay': {
    post: operation({
      summary:
        'Send dead-lettered deliveries again (all, or the ones named), with a fresh retry window',
      tag: 'callbacks',
      body: http.replayCallbackBody,
      status: 202,
      response: http.callbackRequestAnswer,
      errors: [...AUTH, ...BODY, 'CALLBACK_NOT_FOUND'],
      params: [{ name: 'id', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/signatures': {
    post: operation({
      summary: 'Register a signature; it is submitted to each supplier account for review',
      tag: 'templates',
      body: http.registerSignatureBody,
      status: 201,
      response: http.registerSignatureResponse,
      errors: [...AUTH, ...BODY, 'SIGNATURE_INVALID', 'SIGNATURE_TAKEN', 'UNKNOWN_SUPPLIER'],
    }),
  },
  '/v1/templates/{code}/disable': {
    post: operation({
      summary: 'Disable a template',
      tag: 'templates',
      status: 200,
      response: http.templateStateResponse,
      errors: [...AUTH, 'TEMPLATE_NOT_FOUND', 'TEMPLATE_ALREADY_DISABLED'],
      params: [code],
    }),
  },
  '/v1/templates/{code}/enable': {
    post: operation({
      summary: 'Enable a template',
      tag: 'templates',
      status: 200,
      response: http.templateStateResponse,
      errors: [...AUTH, 'TEMPLATE_NOT_FOUND', 'TEMPLATE_ALREADY_ENABLED'],
      params: [code],
    }),
  },
  '/v1/messages': {
    post: operation({
      summary: 'Accept an SMS for sending',
      tag: 'sending',
      body: http.sendMessageBody,
      status: 202,
      response: http.sendMessageResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'TEMPLATE_NOT_FOUND',
        'CALLBACK_URL_INVALID',
        'CALLBACK_URL_FORBIDDEN',
        'TEMPLATE_DISABLED',
        'WRONG_TEMPLATE_KIND',
        'PARAMS_MISMATCH',
        'TEMPLATE_NOT_APPROVED',
        'SIGNATURE_NOT_APPROVED',
        'PARAM_VALUE_INVALID',
        'INVALID_MOBILE',
        'MOBILE_OPTED_OUT',
        'IDEMPOTENCY_KEY_REUSED',
        'SEND_AT_IN_PAST',
        'SEND_AT_TOO_FAR',
        ...RATE,
      ],
      params: [
        {
          name: 'Idempotency-Key',
          in: 'header',
          schema: { type: 'string', maxLength: 128 },
          required: false,
          description: 'Same key and body → the same 202 and one message; another body → 422.',
        },
      ],
    }),
  },
  '/v1/messages/batch': {
    post: operation({
      summary:
        'Send one template to up to 1,000 recipients: each is a message of its own with its own ' +
        'limits, and the answer has a result per recipient (accepted with its message id, or ' +
        'refused with the code POST /v1/messages would answer). The dispatcher hands recipients ' +
        'of one template to the vendors’ batch APIs.',
      tag: 'sending',
      body: http.sendBatchBody,
      status: 200,
      response: http.sendBatchResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'TEMPLATE_NOT_FOUND',
        'TEMPLATE_DISABLED',
        'WRONG_TEMPLATE_KIND',
        'TEMPLATE_NOT_APPROVED',
        'SIGNATURE_NOT_APPROVED',
        'BATCH_SIZE_INVALID',
        'IDEMPOTENCY_KEY_REUSED',
        'SEND_AT_IN_PAST',
        'SEND_AT_TOO_FAR',
      ],
      params: [
        {
          name: 'Idempotency-Key',
          in: 'header',
          schema: { type: 'string', maxLength: 128 },
          required: false,
          description:
            'Same key and body → the same answer and nothing sent twice; another body → 422.',
        },
      ],
    }),
  },
  '/v1/opt-outs': {
    post: operation({
      summary:
        'Opt a number out of the tenant’s marketing templates (recorded as mobile.opted-out, keyword API); list them with GET /v1/opt-outs on the query API',
      tag: 'opt-outs',
      body: http.optOutBody,
      status: 201,
      response: http.optOutResponse,
      errors: [...AUTH, ...BODY, 'INVALID_MOBILE'],
    }),
  },
  '/v1/opt-outs/{mobile}': {
    delete: operation({
      summary:
        'Opt a number back in to the tenant’s marketing (mobile.opted-in), as a START, 订阅 or UNSTOP reply does',
      tag: 'opt-outs',
      status: 200,
      response: http.optOutResponse,
      errors: [...AUTH, 'INVALID_MOBILE'],
      params: [{ name: 'mobile', in: 'path', schema: { type: 'string' }, required: true }],
    }),
  },
  '/v1/messages/{id}/cancel': {
    post: operation({
      summary:
        'Cancel a message not submitted yet (a scheduled one, due at least a second ahead): ' +
        'sms.cancelled, final. Submitted already, or being dispatched: 409 with its status.',
      tag: 'sending',
      status: 200,
      response: http.cancelMessageResponse,
      errors: [...AUTH, 'MESSAGE_NOT_FOUND', 'MESSAGE_NOT_CANCELLABLE'],
      params: [
        {
          name: 'id',
          in: 'path',
          schema: { type: 'string', format: 'uuid' },
          required: true,
        },
      ],
    }),
  },
  '/v1/verifications': {
    post: operation({
      summary: 'Send a verification code',
      tag: 'verification',
      body: http.requestVerificationBody,
      status: 202,
      response: http.requestVerificationResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'TEMPLATE_NOT_FOUND',
        'TEMPLATE_DISABLED',
        'WRONG_TEMPLATE_KIND',
        'PARAMS_MISMATCH',
        'TEMPLATE_NOT_APPROVED',
        'SIGNATURE_NOT_APPROVED',
        'PARAM_VALUE_INVALID',
        'INVALID_MOBILE',
        ...RATE,
        'VERIFICATION_GUARD',
      ],
    }),
  },
  '/v1/verifications/check': {
    post: operation({
      summary: 'Check a verification code (valid once)',
      tag: 'verification',
      body: http.checkVerificationBody,
      status: 200,
      response: http.checkVerificationResponse,
      errors: [
        ...AUTH,
        ...BODY,
        'TEMPLATE_NOT_FOUND',
        'INVALID_MOBILE',
        'VERIFICATION_NOT_FOUND',
        'VERIFICATION_CODE_WRONG',
        'VERIFICATION_EXPIRED',
        'VERIFICATION_ATTEMPTS_EXHAUSTED',
        'VERIFICATION_ALREADY_USED',
      ],
    }),
  },
};
