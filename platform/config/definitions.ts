// The one table of configuration variables. Validation (load.ts) and the
// documentation (docs.ts → docs/configuration.md) are both generated from it.
import { CronPattern } from 'croner';
import type { SchemaObject } from 'ajv';
import {
  DEFAULT_REDIS_PREFIX,
  DISPATCH_GROUP,
  DISPATCH_TOPIC,
  PUMP_GROUP,
  TRACKING_TOPIC,
} from '../../contracts/index.ts';

/** How the raw environment string becomes the value the schema checks. */
export type RawParse = 'text' | 'list' | 'json';

/** How a secret key is written: 32 bytes of hex/base64, or a text used as it is. */
export type SecretKind = 'key32' | 'text';

export interface ConfigDefinition {
  readonly name: `STREAMING_${string}`;
  /** JSON Schema of the parsed value; strings are coerced to the schema's type. */
  readonly schema: SchemaObject;
  /** Default in its environment-string form; it goes through the same parsing and validation. */
  readonly default?: string;
  /** A default used only outside production; production must set its own value. */
  readonly devDefault?: string;
  readonly parse?: RawParse;
  /** Completes "<NAME> must be …" in error messages and in the docs. */
  readonly expects: string;
  readonly description: string;
  /** Never echoed in errors or docs. */
  readonly secret?: boolean;
  /**
   * A key: production refuses any development default (compared as bytes, in
   * any variable) and a value with too little entropy (see secrets.ts).
   */
  readonly key?: SecretKind;
  /** A check the schema cannot express; returns what is wrong, or undefined. */
  readonly check?: (value: unknown) => string | undefined;
}

const port = (name: `STREAMING_${string}`, def: number, description: string): ConfigDefinition => ({
  name,
  schema: { type: 'integer', minimum: 1, maximum: 65535 },
  default: String(def),
  expects: 'an integer between 1 and 65535',
  description,
});

const int = (
  name: `STREAMING_${string}`,
  def: number,
  min: number,
  max: number,
  description: string,
): ConfigDefinition => ({
  name,
  schema: { type: 'integer', minimum: min, maximum: max },
  default: String(def),
  expects: `an integer between ${min} and ${max}`,
  description,
});

const cron = (name: `STREAMING_${string}`, def: string, description: string): ConfigDefinition => ({
  name,
  schema: { type: 'string', minLength: 1 },
  default: def,
  expects: 'a cron expression of 5 or 6 fields (e.g. "0 3 * * *")',
  description,
  check: (value) => {
    try {
      new CronPattern(String(value));
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message.replace(/^CronPattern: /, '') : 'invalid';
    }
  },
});

/** "5m" → 300000, "72h", "10s", "500ms", "1d"; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

const duration = (
  name: `STREAMING_${string}`,
  def: string,
  min: string,
  description: string,
): ConfigDefinition => ({
  name,
  schema: { type: 'string', minLength: 1 },
  default: def,
  expects: `a duration of at least ${min}, as a number and a unit (ms, s, m, h, d), e.g. "${def}"`,
  description,
  check: (value) => {
    const ms = parseDuration(String(value));
    return ms === undefined || ms < (parseDuration(min) ?? 0) ? 'not a duration' : undefined;
  },
});

/**
 * Credentials and secrets of the development defaults (the simulator accounts),
 * which production refuses wherever they appear in STREAMING_SUPPLIERS.
 */
export function developmentSecrets(): ReadonlySet<string> {
  const known = new Set<string>();
  for (const a of defaultSupplierAccounts) {
    known.add(a.accessKeyId);
    known.add(a.accessKeySecret);
    known.add(a.webhookSecret);
  }
  return known;
}

/** Matches 32 bytes written as 64 hex characters or as (url-safe) base64. */
export function decodeKey32(value: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const buf = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (buf.length === 32) return buf;
  }
  return undefined;
}

const key32 = (name: `STREAMING_${string}`, devDefault: string, description: string) =>
  ({
    name,
    schema: { type: 'string', minLength: 1 },
    devDefault,
    expects: '32 bytes written as 64 hex characters or as base64',
    description,
    secret: true,
    key: 'key32',
    check: (value) => (decodeKey32(String(value)) ? undefined : 'not 32 bytes of hex or base64'),
  }) satisfies ConfigDefinition;

/** One upstream supplier account (an element of STREAMING_SUPPLIERS). */
export const supplierAccountSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'vendor',
    'endpoint',
    'accessKeyId',
    'accessKeySecret',
    'signName',
    'webhookSecret',
  ],
  properties: {
    id: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
      description: 'Stable account id used by templates and events (lowercase, digits, dashes).',
    },
    vendor: { enum: ['aliyun', 'tencent'], description: 'Which wire protocol the account speaks.' },
    endpoint: {
      type: 'string',
      format: 'uri',
      pattern: '^https?://',
      description:
        'Base URL of the vendor API (or of the simulator); for Aliyun a scheme and host only, as its SDK always requests "/".',
    },
    accessKeyId: {
      type: 'string',
      minLength: 1,
      description: 'AccessKeyId (Aliyun) or SecretId (Tencent).',
    },
    accessKeySecret: {
      type: 'string',
      minLength: 1,
      description: 'AccessKeySecret (Aliyun) or SecretKey (Tencent).',
    },
    signName: { type: 'string', minLength: 1, description: 'Approved SMS signature name.' },
    webhookSecret: {
      type: 'string',
      minLength: 16,
      description: 'Shared secret in the receipt/inbound webhook URL (at least 16 characters).',
    },
    smsSdkAppId: {
      type: 'string',
      minLength: 1,
      description: 'SmsSdkAppId; required for Tencent.',
    },
    region: {
      type: 'string',
      minLength: 1,
      description: 'API region (default cn-hangzhou for Aliyun, ap-guangzhou for Tencent).',
    },
    weight: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      description: 'Relative share when several accounts are eligible (default 1).',
    },
    maxPerSecond: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      description: 'Throughput cap for this account (default 100).',
    },
    timeoutMs: {
      type: 'integer',
      minimum: 100,
      maximum: 60000,
      description: 'Request timeout towards the vendor (default 5000).',
    },
    webhookSourceCidrs: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', minLength: 1 },
      description:
        "Networks the receipt and inbound webhooks of this account accept pushes from (IPv4/IPv6 CIDRs or addresses, e.g. the vendor's published callback ranges); others get 403 WEBHOOK_SOURCE_FORBIDDEN. Unset: any source with the secret. Behind a proxy, set STREAMING_TRUST_PROXY_HOPS so the client address is the one checked.",
    },
  },
  if: { type: 'object', properties: { vendor: { const: 'tencent' } }, required: ['vendor'] },
  then: { required: ['smsSdkAppId'] },
};

export const defaultSupplierAccounts = [
  {
    id: 'sim-aliyun',
    vendor: 'aliyun',
    endpoint: 'http://127.0.0.1:8090/',
    accessKeyId: 'sim-aliyun-access-key-id',
    accessKeySecret: 'sim-aliyun-access-key-secret',
    signName: 'streaming',
    webhookSecret: 'sim-aliyun-webhook-secret',
  },
  {
    id: 'sim-tencent',
    vendor: 'tencent',
    endpoint: 'http://127.0.0.1:8090/',
    accessKeyId: 'sim-tencent-secret-id',
    accessKeySecret: 'sim-tencent-secret-key',
    smsSdkAppId: '1400000000',
    signName: 'streaming',
    webhookSecret: 'sim-tencent-webhook-secret',
  },
] as const;

export const DEV_JWT_SECRET = 'streaming-development-jwt-secret-not-for-production';
export const DEV_CODE_HASH_KEY = '6465762d636f64652d686173682d6b65792d6e6f742d666f722d70726f642121';
export const DEV_AUDIT_KEY = '6465762d61756469742d636861696e2d6b65792d6e6f742d666f722d70726f64';
export const DEV_API_KEY_HASH_KEY =
  '6465762d6170692d6b65792d686173682d6b65792d6e6f742d666f722d70726f';
export const DEV_CODE_ENCRYPTION_KEY =
  '6465762d636f64652d656e6372797074696f6e2d6b65792d6e6f742d70726f64';

const url = (scheme: string) => ({
  type: 'string',
  format: 'uri',
  pattern: `^(${scheme})://`,
});

export const configDefinitions: readonly ConfigDefinition[] = [
  // runtime
  {
    name: 'STREAMING_ENV',
    schema: { enum: ['development', 'test', 'production'] },
    default: 'development',
    expects: 'one of development, test, production',
    description: 'Deployment environment. `production` refuses development secrets.',
  },
  {
    name: 'STREAMING_LOG_LEVEL',
    schema: { enum: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] },
    default: 'info',
    expects: 'one of error, warn, info, http, verbose, debug, silly',
    description: 'Lowest level written to the JSON log on stdout.',
  },
  // HTTP
  {
    name: 'STREAMING_HTTP_HOST',
    schema: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9.:_\\[\\]-]+$' },
    default: '127.0.0.1',
    expects: 'a host name or IP address to bind',
    description: 'Address the HTTP services bind to (`0.0.0.0` for all interfaces).',
  },
  port('STREAMING_COMMAND_PORT', 8080, 'Port of the command service.'),
  port('STREAMING_QUERY_PORT', 8081, 'Port of the query service.'),
  port('STREAMING_SIMULATOR_PORT', 8090, 'Port of the supplier simulator.'),
  port(
    'STREAMING_GRPC_PORT',
    8082,
    'Port of the gRPC API (`streaming.v1`: command and query RPCs and Watch, on `STREAMING_HTTP_HOST`, TLS with the same certificate files). Requests larger than `STREAMING_BODY_LIMIT` are refused with INVALID_ARGUMENT.',
  ),
  {
    name: 'STREAMING_METRICS_PORT',
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: '9464',
    expects: 'an integer between 0 and 65535',
    description:
      'Port of the Prometheus `/metrics` endpoint: the supervisor of `npm start` serves every part there, a part run alone (`streaming serve …`) its own. 0: none.',
  },
  {
    name: 'STREAMING_METRICS_TOKEN',
    schema: { type: 'string', minLength: 16 },
    expects: 'at least 16 characters',
    secret: true,
    description:
      'When set, the command and query services also serve their own `/metrics` on the API port, to `Authorization: Bearer <token>` only. Unset: not on the API port.',
  },
  {
    name: 'STREAMING_CONSOLE_COMMAND_URL',
    schema: { type: 'string', pattern: '^https?://[^\\s]+[^/]$' },
    expects: 'an absolute URL like https://api.example.com (no trailing slash)',
    description:
      'Where the web console (query service, `/console`) sends commands. Unset: the command port on the host the browser loaded the console from. That origin is allowed by CORS on the command service.',
  },
  {
    name: 'STREAMING_TLS_CERT_FILE',
    schema: { type: 'string', minLength: 1 },
    expects: 'a path to a PEM certificate file',
    description:
      'PEM certificate (chain). With the key file set, the services serve HTTPS and the gRPC API TLS only.',
  },
  {
    name: 'STREAMING_TLS_KEY_FILE',
    schema: { type: 'string', minLength: 1 },
    expects: 'a path to a PEM private key file',
    description: 'PEM private key for `STREAMING_TLS_CERT_FILE`.',
  },
  {
    name: 'STREAMING_CORS_ORIGINS',
    schema: {
      type: 'array',
      items: { type: 'string', pattern: '^https?://[^/\\s,]+$' },
      uniqueItems: true,
    },
    default: '',
    parse: 'list',
    expects: 'a comma-separated list of origins like https://app.example.com (no path)',
    description: 'Browser origins allowed by CORS. Empty: no cross-origin access.',
  },
  {
    name: 'STREAMING_BODY_LIMIT',
    schema: { type: 'string', pattern: '^[1-9][0-9]*([kKmM]?[bB])?$' },
    default: '100kb',
    expects: 'a size like 100kb, 1mb or 2048b (at most 50mb)',
    description: 'Largest accepted JSON request body; larger bodies get 413 BODY_TOO_LARGE.',
    check: (value) =>
      (parseSize(String(value)) ?? Infinity) > 50 * 1024 * 1024 ? 'too large' : undefined,
  },
  int(
    'STREAMING_SHUTDOWN_TIMEOUT_MS',
    10000,
    0,
    600000,
    'On SIGTERM, how long in-flight HTTP requests may take before connections are cut.',
  ),
  int(
    'STREAMING_BACKGROUND_NICE',
    10,
    0,
    19,
    '`npm start`: niceness of its background children (processors, callbacks, projectors, simulator) and, while it runs, of Kafka and FerretDB in the local stack (every thread; put back on stop), so that on busy cores the APIs are served first and the rest catches up from Kafka and the event store. 0: all alike.',
  ),
  // stores
  {
    name: 'STREAMING_MYSQL_URL',
    schema: url('mysql'),
    default: 'mysql://streaming:streaming@127.0.0.1:3306/streaming',
    expects: 'a mysql:// URL with user, password, host, port and database',
    description: 'MySQL/MariaDB: event store (default adapter) and relational read models.',
    secret: true,
  },
  int('STREAMING_MYSQL_POOL_SIZE', 20, 1, 1000, 'Connections in the MySQL pool of each process.'),
  {
    name: 'STREAMING_REDIS_URL',
    schema: url('rediss?'),
    default: 'redis://127.0.0.1:6379/0',
    expects: 'a redis:// or rediss:// URL',
    description: 'Redis: rate limits, locks, lookups and caches.',
    secret: true,
  },
  {
    name: 'STREAMING_REDIS_PREFIX',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,100}$' },
    default: DEFAULT_REDIS_PREFIX,
    expects: 'letters, digits, dots, colons, dashes or underscores (at most 100)',
    description:
      'Prefix of every Redis key of this system, on the command side, the processors, the projectors, the jobs and the query side alike. Give each system sharing one Redis its own.',
  },
  {
    name: 'STREAMING_MONGO_URL',
    schema: url('mongodb|mongodb\\+srv'),
    default: 'mongodb://127.0.0.1:27017/streaming',
    expects: 'a mongodb:// URL naming the database',
    description:
      'Mongo-compatible server (FerretDB here): audit log, tracking; message timelines in the database <name>_timelines beside it.',
    secret: true,
  },
  {
    name: 'STREAMING_KAFKA_BROKERS',
    schema: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', pattern: '^[A-Za-z0-9.\\[\\]:_-]+:[0-9]{1,5}$' },
    },
    default: '127.0.0.1:9092',
    parse: 'list',
    expects: 'a comma-separated list of host:port',
    description: 'Kafka bootstrap brokers.',
  },
  {
    name: 'STREAMING_KAFKA_CLIENT_ID',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' },
    default: 'streaming',
    expects: 'letters, digits, dots, dashes or underscores (at most 100)',
    description: 'Kafka client id prefix.',
  },
  {
    name: 'STREAMING_KAFKA_DISPATCH_TOPIC',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,200}$' },
    default: DISPATCH_TOPIC,
    expects: 'a Kafka topic name: letters, digits, dots, dashes or underscores',
    description:
      'Topic of the messages to dispatch (relay and timers publish, dispatchers consume). Give each system sharing one broker its own.',
  },
  {
    name: 'STREAMING_KAFKA_DISPATCH_GROUP',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,200}$' },
    default: DISPATCH_GROUP,
    expects: 'a Kafka consumer group id: letters, digits, dots, dashes or underscores',
    description:
      'Consumer group of the dispatchers: every dispatcher process of one system joins it; another system on the same broker needs its own.',
  },
  {
    name: 'STREAMING_KAFKA_TRACKING_TOPIC',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,200}$' },
    default: TRACKING_TOPIC,
    expects: 'a Kafka topic name: letters, digits, dots, dashes or underscores',
    description:
      'Topic of the operational tracking events (every service publishes, the pump reads).',
  },
  {
    name: 'STREAMING_KAFKA_PUMP_GROUP',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,200}$' },
    default: PUMP_GROUP,
    expects: 'a Kafka consumer group id: letters, digits, dots, dashes or underscores',
    description: 'Consumer group of the tracking pump.',
  },
  {
    name: 'STREAMING_KAFKA_PUBLISHER',
    schema: { enum: ['platformatic', 'kafkajs'] },
    default: 'platformatic',
    expects: 'one of platformatic, kafkajs',
    description:
      'Kafka client the relay, the timers and the tracking events publish with (`@platformatic/kafka` publishes faster, with less CPU; see BENCHMARKS.md). Consumers always use kafkajs.',
  },
  {
    name: 'STREAMING_EVENT_STORE',
    schema: { enum: ['mysql', 'kurrentdb'] },
    default: 'mysql',
    expects: 'one of mysql, kurrentdb',
    description: 'Event store adapter.',
  },
  {
    name: 'STREAMING_KURRENTDB_URL',
    schema: url('kurrentdb|kurrentdb\\+discover|kdb|kdb\\+discover|esdb|esdb\\+discover'),
    expects: 'a kurrentdb:// (or esdb://) connection string',
    description: 'KurrentDB connection string; required when `STREAMING_EVENT_STORE=kurrentdb`.',
    secret: true,
  },
  // auth
  {
    name: 'STREAMING_JWT_SECRET',
    schema: { type: 'string', minLength: 32 },
    devDefault: DEV_JWT_SECRET,
    expects: 'a secret of at least 32 characters',
    description: 'HMAC key signing access tokens (HS256).',
    secret: true,
    key: 'text',
  },
  {
    name: 'STREAMING_JWT_ISSUER',
    schema: { type: 'string', minLength: 1 },
    default: 'streaming',
    expects: 'a non-empty string',
    description: '`iss` claim of issued tokens, checked on every request.',
  },
  {
    name: 'STREAMING_JWT_AUDIENCE',
    schema: { type: 'string', minLength: 1 },
    default: 'streaming-api',
    expects: 'a non-empty string',
    description: '`aud` claim of issued tokens, checked on every request.',
  },
  int('STREAMING_JWT_TTL_SECONDS', 3600, 60, 604800, 'Lifetime of an access token.'),
  int(
    'STREAMING_LOGIN_MAX_FAILURES',
    5,
    1,
    1000,
    'Failed logins per username from one client IP within the throttle window before 429 LOGIN_THROTTLED (the owner, from another address, can still log in). Attempts are counted before the password is tried; a success gives its count back.',
  ),
  int(
    'STREAMING_LOGIN_MAX_FAILURES_PER_IP',
    30,
    1,
    100000,
    'Failed logins from one client IP, whatever the username, within the throttle window.',
  ),
  int(
    'STREAMING_LOGIN_MAX_PER_SECOND',
    50,
    1,
    100000,
    'Global ceiling: login attempts per second across all users and addresses, per Redis (each costs a full scrypt).',
  ),
  int('STREAMING_LOGIN_THROTTLE_SECONDS', 300, 1, 86400, 'Window of the failed-login throttle.'),
  int(
    'STREAMING_REGISTER_MAX_PER_IP',
    20,
    1,
    1000000,
    'Registrations from one client IP within `STREAMING_REGISTER_WINDOW_SECONDS` before 429 REGISTRATION_THROTTLED.',
  ),
  int('STREAMING_REGISTER_WINDOW_SECONDS', 3600, 1, 604800, 'Window of the registration throttle.'),
  int(
    'STREAMING_PASSWORD_SCRYPT_LOG_N',
    17,
    10,
    20,
    "log2 of scrypt's N for new password hashes (r = 8, p = 1). 17 is OWASP's guidance and the least production accepts; test suites set less to stay fast. Hashes of another cost are re-hashed at the next successful login.",
  ),
  int(
    'STREAMING_HTTP_TRUST_PROXY_HOPS',
    0,
    0,
    10,
    'Reverse proxies in front of the services whose X-Forwarded-For is trusted for the client IP (login and registration throttles). 0: the TCP peer is the client.',
  ),
  // tenants and platform limits (on top of the template policies; they only tighten)
  {
    name: 'STREAMING_TENANTS_START',
    schema: { enum: ['trial', 'active'] },
    expects: 'one of trial, active',
    description:
      "Status of a newly registered tenant. Unset: `trial` in production (sends only to numbers it verified, at most `STREAMING_TRIAL_MAX_PER_DAY` a day, until an admin activates it), `active` elsewhere (so the README's first request works).",
  },
  int(
    'STREAMING_TRIAL_MAX_PER_DAY',
    20,
    1,
    100000,
    'Sends per day (UTC+8) of a trial tenant, all templates together.',
  ),
  int(
    'STREAMING_TENANT_MAX_PER_DAY',
    0,
    0,
    1000000000,
    "Default platform cap on a tenant's sends per day (UTC+8); 0: none. An admin sets one per tenant with `streaming tenants limits`.",
  ),
  int(
    'STREAMING_TENANT_MAX_PER_SECOND',
    0,
    0,
    1000000,
    "Default platform cap on a tenant's sends per second; 0: none.",
  ),
  int(
    'STREAMING_TENANT_MOBILE_MAX_PER_DAY',
    100,
    0,
    1000000,
    "Default platform cap on a tenant's sends to one mobile per day, across all of its templates; 0: none.",
  ),
  int(
    'STREAMING_VERIFICATION_MOBILE_MAX_PER_DAY',
    30,
    0,
    1000000,
    'Verification codes to one mobile per day across all tenants (platform-wide); 0: none.',
  ),
  {
    name: 'STREAMING_TENANT_COUNTRIES',
    schema: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
    },
    default: '86',
    parse: 'list',
    expects: 'a comma-separated list of country calling codes like 86,852',
    description:
      'Destination countries a tenant may send to unless an admin sets its own (default mainland China only).',
  },
  {
    name: 'STREAMING_PLATFORM_SIGNATURE',
    schema: { type: 'string', minLength: 1, maxLength: 20 },
    default: 'streaming',
    expects: 'a signature of 1 to 20 characters',
    description:
      "Signature of the platform's own SMS (the codes that verify a trial tenant's numbers).",
  },
  // the SMS-pumping guard for verification codes
  int(
    'STREAMING_GUARD_WINDOW_SECONDS',
    3600,
    60,
    86400,
    'Sliding window (minute buckets) over which the pumping guard compares codes sent and codes verified, per tenant and destination prefix.',
  ),
  int(
    'STREAMING_GUARD_MIN_VOLUME',
    50,
    1,
    1000000,
    'Codes sent to one prefix in the window before the guard may trip (below it, any conversion passes).',
  ),
  int(
    'STREAMING_GUARD_MIN_CONVERSION_PERCENT',
    20,
    1,
    100,
    "The guard trips when fewer than this percentage of the window's codes to a prefix were verified.",
  ),
  int(
    'STREAMING_GUARD_COOLDOWN_SECONDS',
    3600,
    60,
    604800,
    'How long a tripped guard refuses new codes to its prefix (429 VERIFICATION_GUARD) unless an admin lifts it.',
  ),
  int(
    'STREAMING_GUARD_PREFIX_DIGITS',
    5,
    1,
    10,
    'National digits after the country code that make a destination prefix (5: +86 138 00…).',
  ),
  // verification codes
  key32(
    'STREAMING_CODE_HASH_KEY',
    DEV_CODE_HASH_KEY,
    'HMAC key for verification-code hashes (codes are never stored in clear).',
  ),
  key32(
    'STREAMING_CODE_ENCRYPTION_KEY',
    DEV_CODE_ENCRYPTION_KEY,
    'AES-256-GCM key encrypting codes on their way to the dispatcher.',
  ),
  key32(
    'STREAMING_API_KEY_HASH_KEY',
    DEV_API_KEY_HASH_KEY,
    'HMAC key of stored API-key hashes; separate from the code hash and sealing keys (keys made before it existed still verify under STREAMING_CODE_HASH_KEY).',
  ),
  key32(
    'STREAMING_AUDIT_KEY',
    DEV_AUDIT_KEY,
    'HMAC key of the audit export chain: `streaming audit verify` with it detects an export rewritten and re-hashed without it. Keep a copy where auditors can reach it.',
  ),
  // suppliers
  {
    name: 'STREAMING_SUPPLIERS',
    schema: { type: 'array', minItems: 1, items: supplierAccountSchema },
    devDefault: JSON.stringify(defaultSupplierAccounts),
    parse: 'json',
    expects: 'a JSON array of supplier accounts',
    description:
      'Upstream supplier accounts (see "Supplier accounts" below). Outside production: the two simulator accounts. Production requires it and refuses simulator accounts, loopback or plain-http endpoints and the development credentials and webhook secrets.',
    secret: true,
  },
  {
    name: 'STREAMING_DEFAULT_SUPPLIERS',
    schema: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string' } },
    devDefault: 'sim-aliyun,sim-tencent',
    parse: 'list',
    expects: 'a comma-separated list of account ids from STREAMING_SUPPLIERS',
    description: 'Supplier accounts, in failover order, for templates that name none.',
  },
  // receipts and status pulls
  duration(
    'STREAMING_RECEIPT_PULL_AFTER',
    '5m',
    '100ms',
    'A submitted message without a receipt this long is pulled from the vendor (Aliyun QuerySendDetails, Tencent PullSmsSendStatusByPhoneNumber), then again with backoff.',
  ),
  duration(
    'STREAMING_RECEIPT_EXPIRE_AFTER',
    '72h',
    '1s',
    'A message whose status is still unknown this long after its submission (or its uncertain call) becomes `expired`; a later receipt still moves it to delivered or undelivered.',
  ),
  duration(
    'STREAMING_RECEIPT_RECONCILE_WINDOW',
    '10m',
    '0ms',
    'After a call that timed out, Aliyun answering "not found" is believed (and the message sent again) only once this long has passed since the call: its query lags behind its sends.',
  ),
  // callbacks to tenants (processors/callbacks)
  duration(
    'STREAMING_CALLBACK_TIMEOUT',
    '5s',
    '100ms',
    'Each callback call (connect, send, answer) is given up after this long and retried.',
  ),
  duration(
    'STREAMING_CALLBACK_RETRY_BASE',
    '5s',
    '10ms',
    'First wait before a failed callback is tried again; it doubles per attempt (with jitter) up to STREAMING_CALLBACK_RETRY_MAX.',
  ),
  duration(
    'STREAMING_CALLBACK_RETRY_MAX',
    '1h',
    '10ms',
    'The longest wait between two attempts of one callback.',
  ),
  duration(
    'STREAMING_CALLBACK_RETRY_FOR',
    '24h',
    '1s',
    'A callback still failing this long after its first attempt is dead-lettered (listed by GET /v1/callbacks/{id}/deliveries?status=failed, replayable).',
  ),
  duration(
    'STREAMING_CALLBACK_PAUSE_AFTER',
    '1h',
    '1s',
    'An endpoint whose calls failed without a success for this long is paused (callback.paused.v1, with the reason); an update or POST /v1/callbacks/{id}/resume resumes it.',
  ),
  int(
    'STREAMING_CALLBACK_CONCURRENCY',
    64,
    1,
    1024,
    'Callback calls in flight at once in the callback sender.',
  ),
  // queries
  int(
    'STREAMING_READ_WAIT_MS',
    5000,
    0,
    60000,
    'How long a query may wait for a read model to reach a requested position.',
  ),
  // jobs
  int('STREAMING_RETENTION_DAYS', 365, 1, 36500, 'Messages older than this are deleted.'),
  int(
    'STREAMING_CALLBACK_RETENTION_DAYS',
    30,
    1,
    36500,
    "Finished callback deliveries (delivered or dead-lettered) older than this, and the callback sender's rows of messages accepted before it with nothing pending, are deleted by the retention job.",
  ),
  cron('STREAMING_JOBS_RETENTION_CRON', '0 3 * * *', 'When the retention job runs (UTC).'),
  cron(
    'STREAMING_JOBS_SWEEPER_CRON',
    '*/5 * * * *',
    'When the sweeper of stale messages and due timers runs (UTC).',
  ),
  int(
    'STREAMING_SWEEPER_DEADLINE_SECONDS',
    3600,
    60,
    604800,
    'A message still accepted (no outcome) this long after its last progress is failed by the sweeper (SWEPT_STALE). Uncertain calls are not: the dispatcher reconciles them until STREAMING_RECEIPT_EXPIRE_AFTER.',
  ),
  int(
    'STREAMING_JOBS_LOCK_LEASE_MS',
    30000,
    1000,
    600000,
    'Lease of the Redis lock a job runs under; renewed at a third of it while the job runs. A holder that dies is replaced within one lease.',
  ),
  int(
    'STREAMING_TRACKING_TTL_DAYS',
    7,
    1,
    365,
    'Raw tracking events in Mongo (`tracking_events`) expire after this many days; minute aggregates are kept.',
  ),
];

/** "100kb" → 102400; undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^([1-9][0-9]*)([kKmM]?)[bB]?$/.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
}
