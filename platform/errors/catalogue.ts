// The one catalogue of stable error codes. Every error a caller can cause has
// a code here with its HTTP status; anything else is INTERNAL (500).
export const errorCatalogue = {
  // request shape
  VALIDATION_FAILED: { status: 400, message: 'The request does not match its schema.' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this route.' },
  // auth
  UNAUTHENTICATED: { status: 401, message: 'Authentication required.' },
  INVALID_TOKEN: { status: 401, message: 'The bearer token is invalid or expired.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong username or password.' },
  API_KEY_REVOKED: { status: 401, message: 'The API key has been revoked.' },
  FORBIDDEN: { status: 403, message: 'Not allowed.' },
  LOGIN_THROTTLED: { status: 429, message: 'Too many failed logins; try again later.' },
  REGISTRATION_THROTTLED: {
    status: 429,
    message: 'Too many registrations from this address; try again later.',
  },
  TOKEN_REVOKED: {
    status: 401,
    message: 'The token was ended (logout or password change); log in again.',
  },
  USER_DISABLED: { status: 401, message: 'The user is disabled; ask an admin.' },
  CURRENT_PASSWORD_WRONG: { status: 403, message: 'The current password is wrong.' },
  // users
  USERNAME_TAKEN: { status: 409, message: 'That username is taken.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  // templates
  TEMPLATE_NOT_FOUND: { status: 404, message: 'No such template.' },
  TEMPLATE_DISABLED: { status: 409, message: 'The template is disabled.' },
  TEMPLATE_ALREADY_DISABLED: { status: 409, message: 'The template is already disabled.' },
  TEMPLATE_ALREADY_ENABLED: { status: 409, message: 'The template is already enabled.' },
  TEMPLATE_ALREADY_EXISTS: { status: 409, message: 'A template with that id already exists.' },
  TEMPLATE_CONTENT_INVALID: { status: 422, message: 'The template content is invalid.' },
  UNKNOWN_SUPPLIER: { status: 422, message: 'A supplier account in the list is not configured.' },
  POLICY_INVALID: { status: 422, message: 'The rate-limit policy is impossible.' },
  TEMPLATE_NOT_APPROVED: {
    status: 422,
    message: 'No supplier account has approved the template yet.',
  },
  EXTEND_CODE_TAKEN: {
    status: 409,
    message: 'Another tenant uses that extension code on one of the supplier accounts.',
  },
  BINDING_NOT_FOUND: { status: 404, message: 'No such binding.' },
  // signatures
  SIGNATURE_INVALID: { status: 422, message: 'The signature name is invalid.' },
  SIGNATURE_TAKEN: { status: 409, message: 'The signature belongs to another tenant.' },
  // callback endpoints
  CALLBACK_NOT_FOUND: { status: 404, message: 'No such callback endpoint.' },
  CALLBACK_EXISTS: { status: 409, message: 'A callback endpoint with that id exists.' },
  CALLBACK_URL_INVALID: { status: 422, message: 'The callback URL is not a valid http(s) URL.' },
  CALLBACK_URL_FORBIDDEN: {
    status: 422,
    message: 'The callback URL does not resolve to a public address.',
  },
  CALLBACK_EVENTS_INVALID: { status: 422, message: 'The callback events are not known.' },
  CALLBACK_LIMIT_REACHED: {
    status: 422,
    message: 'The tenant has the most callback endpoints allowed.',
  },
  DELIVERY_NOT_FOUND: { status: 404, message: 'No such callback delivery.' },
  SIGNATURE_NOT_FOUND: { status: 404, message: 'No such signature.' },
  SIGNATURE_NOT_APPROVED: {
    status: 422,
    message: 'No supplier account has approved the signature for this template.',
  },
  // sending
  PARAM_VALUE_INVALID: {
    status: 422,
    message: 'A parameter value is refused by the vendors.',
  },
  PARAMS_MISMATCH: { status: 422, message: 'The params do not match the template placeholders.' },
  INVALID_MOBILE: { status: 422, message: 'The mobile number is not valid.' },
  MOBILE_OPTED_OUT: { status: 422, message: 'The number has opted out of marketing messages.' },
  WRONG_TEMPLATE_KIND: { status: 422, message: 'The template is of the wrong kind for this call.' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'The Idempotency-Key was used with another request body.',
  },
  RATE_LIMIT_MOBILE_INTERVAL: {
    status: 429,
    message: 'Too soon since the last send to this mobile.',
  },
  RATE_LIMIT_MOBILE_HOURLY: { status: 429, message: 'Hourly limit for this mobile reached.' },
  RATE_LIMIT_MOBILE_DAILY: { status: 429, message: 'Daily limit for this mobile reached.' },
  RATE_LIMIT_TEMPLATE_DAILY: { status: 429, message: 'Daily limit for this template reached.' },
  RATE_LIMIT_TENANT_DAILY: { status: 429, message: 'Daily limit for this tenant reached.' },
  // platform limits and tenants
  TENANT_SUSPENDED: { status: 403, message: 'The tenant is suspended; ask an admin.' },
  TRIAL_NUMBER_NOT_VERIFIED: {
    status: 403,
    message: 'A trial tenant sends only to numbers it verified.',
  },
  DESTINATION_NOT_ALLOWED: {
    status: 403,
    message: 'The tenant may not send to this country.',
  },
  PLATFORM_TENANT_DAILY: { status: 429, message: 'The tenant’s platform daily limit is reached.' },
  PLATFORM_TRIAL_DAILY: { status: 429, message: 'The daily limit of a trial tenant is reached.' },
  PLATFORM_TENANT_PER_SECOND: {
    status: 429,
    message: 'The tenant’s platform limit per second is reached.',
  },
  PLATFORM_MOBILE_DAILY: {
    status: 429,
    message: 'The tenant’s platform daily limit for this mobile (all templates) is reached.',
  },
  PLATFORM_VERIFICATION_MOBILE_DAILY: {
    status: 429,
    message: 'The platform daily limit of verification codes to this mobile is reached.',
  },
  PLATFORM_NUMBER_CODES_DAILY: {
    status: 429,
    message: 'Too many number-verification codes today; try tomorrow.',
  },
  VERIFICATION_GUARD: {
    status: 429,
    message: 'Too few codes to this number range were checked; new codes to it wait.',
  },
  TENANT_NOT_FOUND: { status: 404, message: 'No such tenant.' },
  VERIFIED_NUMBERS_FULL: {
    status: 409,
    message: 'The tenant has verified all the numbers it may.',
  },
  NUMBER_ALREADY_VERIFIED: { status: 409, message: 'This number is verified already.' },
  MESSAGE_NOT_FOUND: { status: 404, message: 'No such message.' },
  MESSAGE_NOT_CANCELLABLE: {
    status: 409,
    message: 'The message was submitted already (or is being dispatched); it cannot be cancelled.',
  },
  BATCH_SIZE_INVALID: { status: 422, message: 'A batch has 1 to 1,000 recipients.' },
  SEND_AT_IN_PAST: { status: 422, message: 'sendAt must be in the future.' },
  SEND_AT_TOO_FAR: { status: 422, message: 'sendAt may be at most 30 days ahead.' },
  QUIET_HOURS_INVALID: {
    status: 422,
    message: 'quietHours must be {start, end, timeZone?} on a marketing template.',
  },
  // verification
  VERIFICATION_NOT_FOUND: { status: 404, message: 'No verification code was sent to this mobile.' },
  VERIFICATION_CODE_WRONG: { status: 422, message: 'The code is wrong.' },
  VERIFICATION_EXPIRED: { status: 410, message: 'The code has expired; request a new one.' },
  VERIFICATION_ATTEMPTS_EXHAUSTED: {
    status: 410,
    message: 'No attempts left for this code; request a new one.',
  },
  VERIFICATION_ALREADY_USED: { status: 410, message: 'The code has already been used.' },
  // concurrency
  VERSION_CONFLICT: { status: 409, message: 'The resource changed meanwhile; retry.' },
  PRECONDITION_FAILED: { status: 412, message: 'The expected version does not match.' },
  // webhooks
  WEBHOOK_UNAUTHENTICATED: { status: 401, message: 'The webhook secret or signature is wrong.' },
  WEBHOOK_SOURCE_FORBIDDEN: {
    status: 403,
    message: "The push comes from outside the supplier account's allowed source networks.",
  },
  WEBHOOK_PAYLOAD_INVALID: { status: 400, message: 'The webhook payload is malformed.' },
  // queries
  INVALID_CURSOR: { status: 400, message: 'The cursor is malformed.' },
  INVALID_RANGE: { status: 400, message: 'The time range is invalid.' },
  POSITION_AHEAD_OF_STORE: {
    status: 400,
    message: "The position is beyond the event store's last position.",
  },
  READ_MODEL_LAGGING: { status: 503, message: 'The read model has not caught up yet.' },
  // infrastructure
  DEPENDENCY_UNAVAILABLE: { status: 503, message: 'A dependency is unavailable; retry later.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;
