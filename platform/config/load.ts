import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import {
  configDefinitions,
  decodeKey32,
  developmentSecrets,
  parseDuration,
  parseSize,
  type ConfigDefinition,
} from './definitions.ts';
import { ByteSet, lowEntropyReason, secretForms } from './secrets.ts';
import { cidrProblem } from './cidrs.ts';

export type Environment = 'development' | 'test' | 'production';
export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
export type SupplierVendor = 'aliyun' | 'tencent';

export interface SupplierAccount {
  readonly id: string;
  readonly vendor: SupplierVendor;
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly signName: string;
  readonly webhookSecret: string;
  readonly smsSdkAppId: string | undefined;
  readonly region: string;
  readonly weight: number;
  readonly maxPerSecond: number;
  readonly timeoutMs: number;
  /** Networks the webhooks accept this account's pushes from; undefined: any. */
  readonly webhookSourceCidrs: readonly string[] | undefined;
}

export interface Config {
  readonly env: Environment;
  readonly logLevel: LogLevel;
  readonly http: {
    readonly host: string;
    readonly commandPort: number;
    readonly queryPort: number;
    readonly simulatorPort: number;
    /** The gRPC API's port (STREAMING_GRPC_PORT). */
    readonly grpcPort: number;
    readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
    readonly corsOrigins: readonly string[];
    readonly bodyLimitBytes: number;
    readonly shutdownTimeoutMs: number;
    readonly trustProxyHops: number;
  };
  readonly metrics: { readonly port: number; readonly token: string | undefined };
  /** `npm start`'s supervisor: STREAMING_BACKGROUND_NICE, the niceness of its background children. */
  readonly start: { readonly backgroundNice: number };
  readonly console: { readonly commandUrl: string | undefined };
  readonly mysql: { readonly url: string; readonly poolSize: number };
  readonly redis: {
    readonly url: string;
    /** STREAMING_REDIS_PREFIX: starts every Redis key of this system. */
    readonly prefix: string;
  };
  readonly mongo: { readonly url: string };
  readonly kafka: {
    readonly brokers: readonly string[];
    readonly clientId: string;
    /** Topic and consumer group of dispatch, and of tracking (one pair per system on a broker). */
    readonly dispatchTopic: string;
    readonly dispatchGroup: string;
    readonly trackingTopic: string;
    readonly pumpGroup: string;
    /** STREAMING_KAFKA_PUBLISHER: the client behind the bus port's publishers (platform/bus). */
    readonly publisher: 'platformatic' | 'kafkajs';
  };
  readonly eventStore: {
    readonly kind: 'mysql' | 'kurrentdb';
    readonly kurrentdbUrl: string | undefined;
  };
  readonly auth: {
    readonly jwtSecret: string;
    readonly jwtIssuer: string;
    readonly jwtAudience: string;
    readonly jwtTtlSeconds: number;
    readonly loginMaxFailures: number;
    readonly loginMaxFailuresPerIp: number;
    readonly loginMaxPerSecond: number;
    readonly loginThrottleSeconds: number;
    readonly registerMaxPerIp: number;
    readonly registerWindowSeconds: number;
    /** log2 of scrypt's N for new hashes. */
    readonly passwordLogN: number;
  };
  /** 32-byte keys. Buffers cannot be frozen: never write to them. */
  readonly codes: {
    readonly hashKey: Buffer;
    readonly encryptionKey: Buffer;
    /** HMAC key of stored API-key hashes (kept apart from the code hash key). */
    readonly apiKeyHashKey: Buffer;
  };
  /** 32-byte HMAC key of the audit export chain. */
  readonly audit: { readonly key: Buffer };
  readonly tenants: {
    readonly start: 'trial' | 'active';
    readonly trialMaxPerDay: number;
    /** 0: no cap, as for the others. */
    readonly maxPerDay: number;
    readonly maxPerSecond: number;
    readonly mobileMaxPerDay: number;
    readonly verificationMobileMaxPerDay: number;
    readonly countries: readonly string[];
    readonly platformSignature: string;
  };
  readonly guard: {
    readonly windowSeconds: number;
    readonly minVolume: number;
    readonly minConversionPercent: number;
    readonly cooldownSeconds: number;
    readonly prefixDigits: number;
  };
  readonly suppliers: readonly SupplierAccount[];
  readonly defaultSuppliers: readonly string[];
  readonly query: { readonly readWaitMs: number };
  readonly retention: { readonly days: number; readonly callbackDays: number };
  readonly jobs: {
    readonly retentionCron: string;
    readonly sweeperCron: string;
    readonly sweeperDeadlineSeconds: number;
    readonly lockLeaseMs: number;
  };
  readonly tracking: { readonly ttlDays: number };
  readonly receipts: {
    readonly pullAfterMs: number;
    readonly expireAfterMs: number;
    readonly reconcileWindowMs: number;
  };
  readonly callbacks: {
    readonly timeoutMs: number;
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    readonly retryForMs: number;
    readonly pauseAfterMs: number;
    readonly concurrency: number;
    /** Loopback and private addresses allowed (everywhere but production). */
    readonly allowPrivate: boolean;
  };
}

export interface ConfigProblem {
  readonly variable: string;
  readonly message: string;
}

/** Start-up configuration is invalid. The message has one line per bad variable. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

const ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: true, strictRequired: false });
addFormats.default(ajv, ['uri']);

const validateAll = ajv.compile({
  type: 'object',
  properties: Object.fromEntries(configDefinitions.map((d) => [d.name, d.schema])),
});

/** `/0/vendor` → `[0].vendor` */
function renderPath(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((seg) =>
      /^[0-9]+$/.test(seg) ? `[${seg}]` : `.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`,
    )
    .join('')
    .replace(/^\./, '');
}

function describeAjvError(err: ErrorObject): string {
  const params = err.params as Record<string, unknown>;
  if (err.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return `must be one of ${params.allowedValues.join(', ')}`;
  }
  if (err.keyword === 'additionalProperties')
    return `has unknown field "${String(params.additionalProperty)}"`;
  if (err.keyword === 'required')
    return `misses required field "${String(params.missingProperty)}"`;
  return err.message ?? 'is invalid';
}

function got(def: ConfigDefinition, raw: string): string {
  return def.secret ? '' : ` (got ${JSON.stringify(raw)})`;
}

interface Collected {
  values: Record<string, unknown>;
  raws: Record<string, string>;
  problems: ConfigProblem[];
}

let devKeys: ByteSet | undefined;
/** Every development default of a key variable, in each form it may be used as. */
function developmentKeys(): ByteSet {
  devKeys ??= new ByteSet(
    configDefinitions.flatMap((d) =>
      d.key !== undefined && d.devDefault !== undefined ? secretForms(d.devDefault) : [],
    ),
  );
  return devKeys;
}

function collect(env: Env, production: boolean): Collected {
  const values: Record<string, unknown> = {};
  const raws: Record<string, string> = {};
  const problems: ConfigProblem[] = [];
  const fail = (variable: string, message: string) => problems.push({ variable, message });

  for (const def of configDefinitions) {
    const given = env[def.name];
    let raw: string;
    if (given !== undefined && given.trim() !== '') {
      raw = given.trim();
      if (production && def.key !== undefined && developmentKeys().hasAny(secretForms(raw))) {
        fail(
          def.name,
          `${def.name} must not be the development default in production (set ${def.expects})`,
        );
        continue;
      }
    } else if (def.default !== undefined) {
      raw = def.default;
    } else if (def.devDefault !== undefined) {
      if (production) {
        fail(def.name, `${def.name} must be set in production (${def.expects})`);
        continue;
      }
      raw = def.devDefault;
    } else {
      continue; // optional and unset
    }
    raws[def.name] = raw;

    if (def.parse === 'list') {
      values[def.name] = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    } else if (def.parse === 'json') {
      try {
        values[def.name] = JSON.parse(raw);
      } catch (err) {
        fail(
          def.name,
          `${def.name} must be ${def.expects} (not valid JSON: ${(err as Error).message})`,
        );
      }
    } else {
      values[def.name] = raw;
    }
  }
  return { values, raws, problems };
}

function schemaProblems({ values, raws, problems }: Collected): void {
  if (validateAll(values)) return;
  const seen = new Set(problems.map((p) => p.variable));
  // Errors of the base schema first; if/then consequences (e.g. Tencent's smsSdkAppId) after.
  const errors = [...(validateAll.errors ?? [])]
    .filter((e) => e.keyword !== 'if')
    .sort(
      (a, b) => Number(a.schemaPath.includes('/then/')) - Number(b.schemaPath.includes('/then/')),
    );
  for (const err of errors) {
    const [, name = '', ...rest] = err.instancePath.split('/');
    if (seen.has(name)) continue;
    const def = configDefinitions.find((d) => d.name === name);
    if (!def) continue;
    seen.add(name);
    const raw = raws[name] ?? '';
    const message =
      def.parse === 'json'
        ? `${name} must be ${def.expects}: ${renderPath(rest.join('/')) || 'the value'} ${describeAjvError(err)}`
        : `${name} must be ${def.expects}${got(def, raw)}`;
    problems.push({ variable: name, message });
  }
}

/** What production refuses in one account, or an empty list. */
export function productionAccountProblems(a: {
  id: string;
  endpoint: string;
  accessKeyId: string;
  accessKeySecret: string;
  webhookSecret: string;
}): string[] {
  const problems: string[] = [];
  const dev = developmentSecrets();
  if (a.id.startsWith('sim-')) problems.push('is a simulator account');
  try {
    const url = new URL(a.endpoint);
    if (url.protocol !== 'https:') problems.push('has a plain-http endpoint');
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (
      host === 'localhost' ||
      host.endsWith('.localhost') ||
      /^127\./.test(host) ||
      host === '::1' ||
      host === '0.0.0.0' ||
      host === '::'
    )
      problems.push('has a loopback endpoint');
  } catch {
    problems.push('has an endpoint that is not a URL');
  }
  if ([a.accessKeyId, a.accessKeySecret, a.webhookSecret].some((v) => dev.has(v)))
    problems.push('uses a known development credential or webhook secret');
  return problems;
}

type Fail = (variable: string, message: string) => void;

/** The rules over STREAMING_SUPPLIERS and STREAMING_DEFAULT_SUPPLIERS together. */
function checkSuppliers(
  values: Collected['values'],
  bad: Set<string>,
  fail: Fail,
  production: boolean,
): void {
  const accounts = (values.STREAMING_SUPPLIERS ?? []) as {
    id: string;
    vendor: string;
    endpoint: string;
    accessKeyId: string;
    accessKeySecret: string;
    webhookSecret: string;
    webhookSourceCidrs?: string[];
  }[];
  const ids = accounts.map((a) => a.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  const refused = production
    ? accounts
        .map((a, i) => ({
          i,
          id: a.id,
          why: productionAccountProblems(a),
        }))
        .filter((r) => r.why.length > 0)
    : [];
  // Aliyun's SDK always requests "/" of the endpoint's host: a path would be ignored.
  const cidrs = accounts
    .flatMap((a, i) => (a.webhookSourceCidrs ?? []).map((c) => ({ i, problem: cidrProblem(c) })))
    .find((c) => c.problem !== undefined);
  const rooted = accounts.findIndex((a) => a.vendor === 'aliyun' && !isHostRoot(a.endpoint));
  if (refused.length > 0) {
    fail(
      'STREAMING_SUPPLIERS',
      `STREAMING_SUPPLIERS must hold real vendor accounts in production: ${refused
        .map((r) => `[${r.i}] (${r.id}) ${r.why.join(', ')}`)
        .join('; ')}`,
    );
  } else if (rooted !== -1) {
    fail(
      'STREAMING_SUPPLIERS',
      `STREAMING_SUPPLIERS must be a JSON array of supplier accounts: [${rooted}].endpoint of an aliyun account must be a scheme and host only, e.g. https://dysmsapi.aliyuncs.com/ (got ${accounts[rooted]?.endpoint})`,
    );
  } else if (cidrs !== undefined) {
    fail(
      'STREAMING_SUPPLIERS',
      `STREAMING_SUPPLIERS must be a JSON array of supplier accounts: [${cidrs.i}].webhookSourceCidrs: ${cidrs.problem}`,
    );
  } else if (dup !== undefined) {
    fail(
      'STREAMING_SUPPLIERS',
      `STREAMING_SUPPLIERS must have unique account ids ("${dup}" appears twice)`,
    );
  } else if (!bad.has('STREAMING_DEFAULT_SUPPLIERS')) {
    const unknown = ((values.STREAMING_DEFAULT_SUPPLIERS ?? []) as string[]).filter(
      (id) => !ids.includes(id),
    );
    if (unknown.length) {
      fail(
        'STREAMING_DEFAULT_SUPPLIERS',
        `STREAMING_DEFAULT_SUPPLIERS must list account ids from STREAMING_SUPPLIERS (unknown: ${unknown.join(', ')}; configured: ${ids.join(', ')})`,
      );
    }
  }
}

/** In production, keys have enough entropy and there is one key per purpose. */
function checkKeys(raws: Collected['raws'], bad: Set<string>, fail: Fail): void {
  const seen = new Map<string, string>();
  for (const def of configDefinitions) {
    const raw = raws[def.name];
    if (def.key === undefined || raw === undefined || bad.has(def.name)) continue;
    const reason = lowEntropyReason(raw, def.key);
    if (reason !== undefined) {
      fail(
        def.name,
        `${def.name} must be random in production: the value ${reason} (generate one with \`openssl rand -hex 32\`)`,
      );
      continue;
    }
    for (const form of secretForms(raw)) {
      const other = seen.get(form.toString('base64'));
      if (other !== undefined && other !== def.name) {
        fail(def.name, `${def.name} must differ from ${other} (one key per purpose)`);
      }
      seen.set(form.toString('base64'), def.name);
    }
  }
}

function checkProblems({ values, raws, problems }: Collected, production: boolean): void {
  const bad = new Set(problems.map((p) => p.variable));
  const fail = (variable: string, message: string) => {
    if (!bad.has(variable)) problems.push({ variable, message });
    bad.add(variable);
  };
  for (const def of configDefinitions) {
    if (bad.has(def.name) || !(def.name in values) || !def.check) continue;
    const reason = def.check(values[def.name]);
    if (reason !== undefined) {
      fail(def.name, `${def.name} must be ${def.expects}${got(def, raws[def.name] ?? '')}`);
    }
  }

  // Rules across variables.
  const cert = values.STREAMING_TLS_CERT_FILE;
  const key = values.STREAMING_TLS_KEY_FILE;
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? 'STREAMING_TLS_CERT_FILE' : 'STREAMING_TLS_KEY_FILE';
    fail(
      missing,
      `${missing} must be set together with ${cert === undefined ? 'STREAMING_TLS_KEY_FILE' : 'STREAMING_TLS_CERT_FILE'} (set both for HTTPS, or neither)`,
    );
  }
  if (
    values.STREAMING_EVENT_STORE === 'kurrentdb' &&
    values.STREAMING_KURRENTDB_URL === undefined
  ) {
    fail(
      'STREAMING_KURRENTDB_URL',
      'STREAMING_KURRENTDB_URL must be set when STREAMING_EVENT_STORE=kurrentdb (a kurrentdb:// connection string)',
    );
  }
  if (!bad.has('STREAMING_SUPPLIERS')) checkSuppliers(values, bad, fail, production);
  if (production) checkKeys(raws, bad, fail);
  if (
    production &&
    !bad.has('STREAMING_PASSWORD_SCRYPT_LOG_N') &&
    Number(values.STREAMING_PASSWORD_SCRYPT_LOG_N) < 17
  ) {
    fail(
      'STREAMING_PASSWORD_SCRYPT_LOG_N',
      'STREAMING_PASSWORD_SCRYPT_LOG_N must be at least 17 in production (OWASP scrypt guidance; lower costs are for test suites)',
    );
  }
  const ports = ['STREAMING_COMMAND_PORT', 'STREAMING_QUERY_PORT', 'STREAMING_SIMULATOR_PORT'];
  for (const [i, a] of ports.entries()) {
    for (const b of ports.slice(i + 1)) {
      if (!bad.has(a) && !bad.has(b) && values[a] === values[b]) {
        fail(b, `${b} must differ from ${a} (both are ${String(values[a])})`);
      }
    }
  }
}

function isHostRoot(endpoint: string): boolean {
  try {
    const url = new URL(endpoint);
    return url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '';
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

type RawAccount = Omit<
  SupplierAccount,
  'region' | 'weight' | 'maxPerSecond' | 'timeoutMs' | 'smsSdkAppId' | 'webhookSourceCidrs'
> &
  Partial<SupplierAccount>;

/** Typed reads of the validated values (each was checked against its definition). */
function reader(v: Record<string, unknown>) {
  return {
    s: (name: string) => v[name] as string,
    n: (name: string) => v[name] as number,
    list: (name: string) => v[name] as string[],
    opt: (name: string) => v[name] as string | undefined,
  };
}
type Reader = ReturnType<typeof reader>;

function httpConfig({ s, n, list, opt }: Reader): Config['http'] {
  const cert = opt('STREAMING_TLS_CERT_FILE');
  const key = opt('STREAMING_TLS_KEY_FILE');
  return {
    host: s('STREAMING_HTTP_HOST'),
    commandPort: n('STREAMING_COMMAND_PORT'),
    queryPort: n('STREAMING_QUERY_PORT'),
    simulatorPort: n('STREAMING_SIMULATOR_PORT'),
    grpcPort: n('STREAMING_GRPC_PORT'),
    tls: cert !== undefined && key !== undefined ? { certFile: cert, keyFile: key } : undefined,
    corsOrigins: list('STREAMING_CORS_ORIGINS'),
    bodyLimitBytes: parseSize(s('STREAMING_BODY_LIMIT')) ?? 102400,
    shutdownTimeoutMs: n('STREAMING_SHUTDOWN_TIMEOUT_MS'),
    trustProxyHops: n('STREAMING_HTTP_TRUST_PROXY_HOPS'),
  };
}

function authConfig({ s, n }: Reader): Config['auth'] {
  return {
    jwtSecret: s('STREAMING_JWT_SECRET'),
    jwtIssuer: s('STREAMING_JWT_ISSUER'),
    jwtAudience: s('STREAMING_JWT_AUDIENCE'),
    jwtTtlSeconds: n('STREAMING_JWT_TTL_SECONDS'),
    loginMaxFailures: n('STREAMING_LOGIN_MAX_FAILURES'),
    loginMaxFailuresPerIp: n('STREAMING_LOGIN_MAX_FAILURES_PER_IP'),
    loginMaxPerSecond: n('STREAMING_LOGIN_MAX_PER_SECOND'),
    loginThrottleSeconds: n('STREAMING_LOGIN_THROTTLE_SECONDS'),
    registerMaxPerIp: n('STREAMING_REGISTER_MAX_PER_IP'),
    registerWindowSeconds: n('STREAMING_REGISTER_WINDOW_SECONDS'),
    passwordLogN: n('STREAMING_PASSWORD_SCRYPT_LOG_N'),
  };
}

function tenantsConfig({ s, n, list, opt }: Reader): Config['tenants'] {
  return {
    start:
      (opt('STREAMING_TENANTS_START') as 'trial' | 'active' | undefined) ??
      (s('STREAMING_ENV') === 'production' ? 'trial' : 'active'),
    trialMaxPerDay: n('STREAMING_TRIAL_MAX_PER_DAY'),
    maxPerDay: n('STREAMING_TENANT_MAX_PER_DAY'),
    maxPerSecond: n('STREAMING_TENANT_MAX_PER_SECOND'),
    mobileMaxPerDay: n('STREAMING_TENANT_MOBILE_MAX_PER_DAY'),
    verificationMobileMaxPerDay: n('STREAMING_VERIFICATION_MOBILE_MAX_PER_DAY'),
    countries: list('STREAMING_TENANT_COUNTRIES'),
    platformSignature: s('STREAMING_PLATFORM_SIGNATURE'),
  };
}

function suppliersConfig(
  v: Record<string, unknown>,
  { n }: Reader,
  defaultSuppliers: boolean,
): Config['suppliers'] {
  return (v.STREAMING_SUPPLIERS as RawAccount[]).map((a) => ({
    id: a.id,
    vendor: a.vendor,
    // the default accounts are the simulator's, on whatever port it was given
    endpoint: defaultSuppliers
      ? a.endpoint.replace('//127.0.0.1:8090/', `//127.0.0.1:${n('STREAMING_SIMULATOR_PORT')}/`)
      : a.endpoint,
    accessKeyId: a.accessKeyId,
    accessKeySecret: a.accessKeySecret,
    signName: a.signName,
    webhookSecret: a.webhookSecret,
    smsSdkAppId: a.smsSdkAppId,
    region: a.region ?? (a.vendor === 'aliyun' ? 'cn-hangzhou' : 'ap-guangzhou'),
    weight: a.weight ?? 1,
    maxPerSecond: a.maxPerSecond ?? 100,
    timeoutMs: a.timeoutMs ?? 5000,
    webhookSourceCidrs: a.webhookSourceCidrs?.map((c) => c.trim()),
  }));
}

function callbacksConfig({ s, n }: Reader): Config['callbacks'] {
  return {
    timeoutMs: parseDuration(s('STREAMING_CALLBACK_TIMEOUT')) ?? 5_000,
    retryBaseMs: parseDuration(s('STREAMING_CALLBACK_RETRY_BASE')) ?? 5_000,
    retryMaxMs: parseDuration(s('STREAMING_CALLBACK_RETRY_MAX')) ?? 3_600_000,
    retryForMs: parseDuration(s('STREAMING_CALLBACK_RETRY_FOR')) ?? 86_400_000,
    pauseAfterMs: parseDuration(s('STREAMING_CALLBACK_PAUSE_AFTER')) ?? 3_600_000,
    concurrency: n('STREAMING_CALLBACK_CONCURRENCY'),
    allowPrivate: s('STREAMING_ENV') !== 'production',
  };
}

function build(v: Record<string, unknown>, defaultSuppliers = false): Config {
  const r = reader(v);
  const { s, n, list, opt } = r;
  return {
    env: s('STREAMING_ENV') as Environment,
    logLevel: s('STREAMING_LOG_LEVEL') as LogLevel,
    http: httpConfig(r),
    metrics: { port: n('STREAMING_METRICS_PORT'), token: opt('STREAMING_METRICS_TOKEN') },
    start: { backgroundNice: n('STREAMING_BACKGROUND_NICE') },
    console: { commandUrl: opt('STREAMING_CONSOLE_COMMAND_URL') },
    mysql: { url: s('STREAMING_MYSQL_URL'), poolSize: n('STREAMING_MYSQL_POOL_SIZE') },
    redis: { url: s('STREAMING_REDIS_URL'), prefix: s('STREAMING_REDIS_PREFIX') },
    mongo: { url: s('STREAMING_MONGO_URL') },
    kafka: {
      brokers: list('STREAMING_KAFKA_BROKERS'),
      clientId: s('STREAMING_KAFKA_CLIENT_ID'),
      dispatchTopic: s('STREAMING_KAFKA_DISPATCH_TOPIC'),
      dispatchGroup: s('STREAMING_KAFKA_DISPATCH_GROUP'),
      trackingTopic: s('STREAMING_KAFKA_TRACKING_TOPIC'),
      pumpGroup: s('STREAMING_KAFKA_PUMP_GROUP'),
      publisher: s('STREAMING_KAFKA_PUBLISHER') as 'platformatic' | 'kafkajs',
    },
    eventStore: {
      kind: s('STREAMING_EVENT_STORE') as 'mysql' | 'kurrentdb',
      kurrentdbUrl: opt('STREAMING_KURRENTDB_URL'),
    },
    auth: authConfig(r),
    codes: {
      hashKey: decodeKey32(s('STREAMING_CODE_HASH_KEY')) as Buffer,
      encryptionKey: decodeKey32(s('STREAMING_CODE_ENCRYPTION_KEY')) as Buffer,
      apiKeyHashKey: decodeKey32(s('STREAMING_API_KEY_HASH_KEY')) as Buffer,
    },
    audit: { key: decodeKey32(s('STREAMING_AUDIT_KEY')) as Buffer },
    tenants: tenantsConfig(r),
    guard: {
      windowSeconds: n('STREAMING_GUARD_WINDOW_SECONDS'),
      minVolume: n('STREAMING_GUARD_MIN_VOLUME'),
      minConversionPercent: n('STREAMING_GUARD_MIN_CONVERSION_PERCENT'),
      cooldownSeconds: n('STREAMING_GUARD_COOLDOWN_SECONDS'),
      prefixDigits: n('STREAMING_GUARD_PREFIX_DIGITS'),
    },
    suppliers: suppliersConfig(v, r, defaultSuppliers),
    defaultSuppliers: list('STREAMING_DEFAULT_SUPPLIERS'),
    query: { readWaitMs: n('STREAMING_READ_WAIT_MS') },
    retention: {
      days: n('STREAMING_RETENTION_DAYS'),
      callbackDays: n('STREAMING_CALLBACK_RETENTION_DAYS'),
    },
    jobs: {
      retentionCron: s('STREAMING_JOBS_RETENTION_CRON'),
      sweeperCron: s('STREAMING_JOBS_SWEEPER_CRON'),
      sweeperDeadlineSeconds: n('STREAMING_SWEEPER_DEADLINE_SECONDS'),
      lockLeaseMs: n('STREAMING_JOBS_LOCK_LEASE_MS'),
    },
    tracking: { ttlDays: n('STREAMING_TRACKING_TTL_DAYS') },
    receipts: {
      pullAfterMs: parseDuration(s('STREAMING_RECEIPT_PULL_AFTER')) ?? 300_000,
      expireAfterMs: parseDuration(s('STREAMING_RECEIPT_EXPIRE_AFTER')) ?? 259_200_000,
      reconcileWindowMs: parseDuration(s('STREAMING_RECEIPT_RECONCILE_WINDOW')) ?? 600_000,
    },
    callbacks: callbacksConfig(r),
  };
}

/**
 * Reads every STREAMING_* variable, applies defaults, coerces and validates.
 * Throws one ConfigError naming each bad variable and what it expects.
 */
export function loadConfig(env: Env = process.env): Config {
  const production = env.STREAMING_ENV?.trim() === 'production';
  const collected = collect(env, production);
  schemaProblems(collected);
  checkProblems(collected, production);
  if (collected.problems.length) {
    const order = configDefinitions.map((d) => d.name as string);
    const sorted = [...collected.problems].sort(
      (a, b) => order.indexOf(a.variable) - order.indexOf(b.variable),
    );
    throw new ConfigError(sorted);
  }
  return deepFreeze(build(collected.values, env.STREAMING_SUPPLIERS === undefined));
}

/** STREAMING_* variables that no definition knows (likely typos); STREAMING_STACK_* belong to stack/. */
export function unknownVariables(env: Env = process.env): string[] {
  const known = new Set<string>(configDefinitions.map((d) => d.name));
  return Object.keys(env)
    .filter((k) => k.startsWith('STREAMING_') && !k.startsWith('STREAMING_STACK_') && !known.has(k))
    .sort();
}
