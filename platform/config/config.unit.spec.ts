import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEV_AUDIT_KEY, DEV_CODE_HASH_KEY } from './definitions.ts';
import { lowEntropyReason } from './secrets.ts';
import {
  ConfigError,
  configDocsPath,
  loadConfig,
  renderConfigDocs,
  unknownVariables,
} from './index.ts';

const REAL_ACCOUNT = {
  id: 'ali-prod',
  vendor: 'aliyun',
  endpoint: 'https://dysmsapi.aliyuncs.com/',
  accessKeyId: 'LTAI5tRealAccessKeyId',
  accessKeySecret: 'a-real-access-key-secret',
  signName: '阿里云短信测试',
  webhookSecret: 'a-long-random-webhook-secret-0123',
};

const PROD_SECRETS = {
  STREAMING_ENV: 'production',
  // random values, made once (production refuses patterns and the development defaults)
  STREAMING_JWT_SECRET: '4VDtf1mfMEb6pt0ZdJaDQa_deu6TlqcysmGEKiaVAhrdzmdz',
  STREAMING_CODE_HASH_KEY: 'd0d39e65b1c48447eb43046bbfef6ae6c2107525793e727a5a863aaa536b2d5a',
  STREAMING_CODE_ENCRYPTION_KEY: 'BcrGX9rlY6gMagwB2HDJu9toR/00P0ZIxEOYceb2Km4=',
  STREAMING_SUPPLIERS: JSON.stringify([REAL_ACCOUNT]),
  STREAMING_DEFAULT_SUPPLIERS: 'ali-prod',
  STREAMING_AUDIT_KEY: '7c14749d2198baad5c691d19b30de69ccbab200af0d1de39bef1dd599e355aae',
  STREAMING_API_KEY_HASH_KEY: 'd75bc6678d736e13b43568cf6796d84aee3af2d21698773b6d7353f12e9220d2',
};

function problemOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, 'throws ConfigError');
    return err.message;
  }
  assert.fail(`expected ${JSON.stringify(env)} to be rejected`);
}

describe('loadConfig', () => {
  it('given no variables, returns the documented defaults', () => {
    const c = loadConfig({});
    assert.equal(c.env, 'development');
    assert.equal(c.logLevel, 'info');
    assert.deepEqual(
      { ...c.http },
      {
        host: '127.0.0.1',
        commandPort: 8080,
        queryPort: 8081,
        simulatorPort: 8090,
        grpcPort: 8082,
        tls: undefined,
        corsOrigins: [],
        bodyLimitBytes: 100 * 1024,
        shutdownTimeoutMs: 10000,
        trustProxyHops: 0,
      },
    );
    assert.deepEqual(c.start, { backgroundNice: 10 });
    assert.deepEqual(c.mysql, {
      url: 'mysql://streaming:streaming@127.0.0.1:3306/streaming',
      poolSize: 20,
    });
    assert.equal(c.redis.url, 'redis://127.0.0.1:6379/0');
    assert.equal(c.mongo.url, 'mongodb://127.0.0.1:27017/streaming');
    assert.deepEqual(c.kafka, {
      brokers: ['127.0.0.1:9092'],
      clientId: 'streaming',
      dispatchTopic: 'sms.dispatch',
      dispatchGroup: 'streaming-dispatcher',
      trackingTopic: 'streaming.tracking',
      pumpGroup: 'streaming-pump',
      publisher: 'platformatic',
    });
    assert.deepEqual(c.eventStore, { kind: 'mysql', kurrentdbUrl: undefined });
    assert.equal(c.auth.jwtIssuer, 'streaming');
    assert.equal(c.auth.jwtAudience, 'streaming-api');
    assert.equal(c.auth.jwtTtlSeconds, 3600);
    assert.ok(c.auth.jwtSecret.length >= 32);
    assert.equal(c.auth.loginMaxFailures, 5);
    assert.equal(c.auth.loginThrottleSeconds, 300);
    assert.equal(c.auth.passwordLogN, 17);
    assert.equal(c.codes.hashKey.length, 32);
    assert.equal(c.codes.encryptionKey.length, 32);
    assert.deepEqual(
      c.suppliers.map((s) => [s.id, s.vendor, s.endpoint, s.region]),
      [
        ['sim-aliyun', 'aliyun', 'http://127.0.0.1:8090/', 'cn-hangzhou'],
        ['sim-tencent', 'tencent', 'http://127.0.0.1:8090/', 'ap-guangzhou'],
      ],
    );
    assert.deepEqual(c.defaultSuppliers, ['sim-aliyun', 'sim-tencent']);
    assert.equal(c.query.readWaitMs, 5000);
    assert.equal(c.retention.days, 365);
    assert.deepEqual(c.jobs, {
      retentionCron: '0 3 * * *',
      sweeperCron: '*/5 * * * *',
      sweeperDeadlineSeconds: 3600,
      lockLeaseMs: 30000,
    });
    assert.equal(c.tracking.ttlDays, 7);
  });

  it('returns a frozen object all the way down', () => {
    const c = loadConfig({});
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.http) && Object.isFrozen(c.suppliers));
    assert.ok(Object.isFrozen(c.suppliers[0]) && Object.isFrozen(c.http.corsOrigins));
    assert.throws(() => {
      (c as { env: string }).env = 'production';
    }, TypeError);
  });

  it('coerces numbers, lists, sizes, keys and JSON', () => {
    const c = loadConfig({
      STREAMING_COMMAND_PORT: ' 9000 ',
      STREAMING_MYSQL_POOL_SIZE: '5',
      STREAMING_CORS_ORIGINS: 'https://a.example.com, http://localhost:3000,',
      STREAMING_KAFKA_BROKERS: 'k1:9092,k2:9093',
      STREAMING_BODY_LIMIT: '1mb',
      STREAMING_CODE_HASH_KEY: Buffer.alloc(32, 1).toString('base64'),
      STREAMING_TLS_CERT_FILE: '/etc/tls/cert.pem',
      STREAMING_TLS_KEY_FILE: '/etc/tls/key.pem',
      STREAMING_SUPPLIERS: JSON.stringify([
        {
          id: 'ali-prod',
          vendor: 'aliyun',
          endpoint: 'https://dysmsapi.aliyuncs.com/',
          accessKeyId: 'id',
          accessKeySecret: 'secret',
          signName: 'Acme',
          webhookSecret: 'w'.repeat(16),
          weight: '3',
        },
      ]),
      STREAMING_DEFAULT_SUPPLIERS: 'ali-prod',
      STREAMING_LOG_LEVEL: '',
    });
    assert.equal(c.http.commandPort, 9000);
    assert.equal(c.mysql.poolSize, 5);
    assert.deepEqual(c.http.corsOrigins, ['https://a.example.com', 'http://localhost:3000']);
    assert.deepEqual(c.kafka.brokers, ['k1:9092', 'k2:9093']);
    assert.equal(c.http.bodyLimitBytes, 1024 * 1024);
    assert.deepEqual(c.codes.hashKey, Buffer.alloc(32, 1));
    assert.deepEqual(c.http.tls, { certFile: '/etc/tls/cert.pem', keyFile: '/etc/tls/key.pem' });
    assert.equal(c.suppliers[0]?.weight, 3);
    assert.equal(c.suppliers[0]?.timeoutMs, 5000);
    assert.equal(c.logLevel, 'info', 'an empty value counts as unset');
  });

  describe('names the variable and what it expects', () => {
    const cases: [Record<string, string>, string][] = [
      [
        { STREAMING_COMMAND_PORT: 'abc' },
        'STREAMING_COMMAND_PORT must be an integer between 1 and 65535 (got "abc")',
      ],
      [
        { STREAMING_QUERY_PORT: '70000' },
        'STREAMING_QUERY_PORT must be an integer between 1 and 65535 (got "70000")',
      ],
      [
        { STREAMING_MYSQL_POOL_SIZE: '2.5' },
        'STREAMING_MYSQL_POOL_SIZE must be an integer between 1 and 1000 (got "2.5")',
      ],
      [
        { STREAMING_ENV: 'staging' },
        'STREAMING_ENV must be one of development, test, production (got "staging")',
      ],
      [
        { STREAMING_LOG_LEVEL: 'loud' },
        'STREAMING_LOG_LEVEL must be one of error, warn, info, http, verbose, debug, silly (got "loud")',
      ],
      [
        { STREAMING_MYSQL_URL: 'postgres://x@y/z' },
        'STREAMING_MYSQL_URL must be a mysql:// URL with user, password, host, port and database',
      ],
      [
        { STREAMING_CORS_ORIGINS: 'https://a.example.com/app' },
        'STREAMING_CORS_ORIGINS must be a comma-separated list of origins like https://app.example.com (no path) (got "https://a.example.com/app")',
      ],
      [
        { STREAMING_KAFKA_BROKERS: 'localhost' },
        'STREAMING_KAFKA_BROKERS must be a comma-separated list of host:port (got "localhost")',
      ],
      [
        { STREAMING_BODY_LIMIT: 'lots' },
        'STREAMING_BODY_LIMIT must be a size like 100kb, 1mb or 2048b (at most 50mb) (got "lots")',
      ],
      [
        { STREAMING_BODY_LIMIT: '51mb' },
        'STREAMING_BODY_LIMIT must be a size like 100kb, 1mb or 2048b (at most 50mb) (got "51mb")',
      ],
      [
        { STREAMING_JWT_SECRET: 'short' },
        'STREAMING_JWT_SECRET must be a secret of at least 32 characters',
      ],
      [
        { STREAMING_CODE_ENCRYPTION_KEY: 'abcd' },
        'STREAMING_CODE_ENCRYPTION_KEY must be 32 bytes written as 64 hex characters or as base64',
      ],
      [
        { STREAMING_JOBS_RETENTION_CRON: '0 3 * *' },
        'STREAMING_JOBS_RETENTION_CRON must be a cron expression of 5 or 6 fields (e.g. "0 3 * * *") (got "0 3 * *")',
      ],
      [
        { STREAMING_SUPPLIERS: '[{' },
        'STREAMING_SUPPLIERS must be a JSON array of supplier accounts (not valid JSON:',
      ],
      [
        { STREAMING_SUPPLIERS: '[{"id":"Bad Id"}]' },
        'STREAMING_SUPPLIERS must be a JSON array of supplier accounts: [0] misses required field "vendor"',
      ],
      [
        {
          STREAMING_SUPPLIERS: JSON.stringify([
            {
              id: 'tc',
              vendor: 'tencent',
              endpoint: 'https://sms.tencentcloudapi.com/',
              accessKeyId: 'a',
              accessKeySecret: 'b',
              signName: 'c',
              webhookSecret: 'w'.repeat(16),
            },
          ]),
          STREAMING_DEFAULT_SUPPLIERS: 'tc',
        },
        'STREAMING_SUPPLIERS must be a JSON array of supplier accounts: [0] misses required field "smsSdkAppId"',
      ],
      [
        {
          STREAMING_SUPPLIERS: JSON.stringify([
            {
              id: 'ali',
              vendor: 'aliyun',
              endpoint: 'http://127.0.0.1:8090/aliyun/',
              accessKeyId: 'a',
              accessKeySecret: 'b',
              signName: 'c',
              webhookSecret: 'w'.repeat(16),
            },
          ]),
          STREAMING_DEFAULT_SUPPLIERS: 'ali',
        },
        'STREAMING_SUPPLIERS must be a JSON array of supplier accounts: [0].endpoint of an aliyun account must be a scheme and host only, e.g. https://dysmsapi.aliyuncs.com/ (got http://127.0.0.1:8090/aliyun/)',
      ],
      [
        { STREAMING_DEFAULT_SUPPLIERS: 'sim-aliyun,nope' },
        'STREAMING_DEFAULT_SUPPLIERS must list account ids from STREAMING_SUPPLIERS (unknown: nope;',
      ],
      [
        { STREAMING_TLS_KEY_FILE: '/k.pem' },
        'STREAMING_TLS_CERT_FILE must be set together with STREAMING_TLS_KEY_FILE',
      ],
      [
        { STREAMING_EVENT_STORE: 'kurrentdb' },
        'STREAMING_KURRENTDB_URL must be set when STREAMING_EVENT_STORE=kurrentdb',
      ],
      [
        { STREAMING_QUERY_PORT: '8080' },
        'STREAMING_QUERY_PORT must differ from STREAMING_COMMAND_PORT (both are 8080)',
      ],
    ];
    for (const [env, expected] of cases) {
      it(`${Object.keys(env).join(', ')} = ${Object.values(env).join(', ').slice(0, 40)}`, () => {
        const message = problemOf(env);
        assert.ok(message.startsWith(expected), `got: ${message}`);
        assert.equal(message.split('\n').length, 1, 'one line for one bad variable');
      });
    }
  });

  it('never echoes secret values', () => {
    const message = problemOf({ STREAMING_JWT_SECRET: 'hunter2-is-my-secret' });
    assert.ok(!message.includes('hunter2'));
  });

  it('reports every bad variable at once, one line each', () => {
    const err = (() => {
      try {
        loadConfig({ STREAMING_COMMAND_PORT: 'x', STREAMING_RETENTION_DAYS: '0' });
      } catch (e) {
        return e as ConfigError;
      }
      assert.fail('expected a ConfigError');
    })();
    assert.deepEqual(
      err.problems.map((p) => p.variable),
      ['STREAMING_COMMAND_PORT', 'STREAMING_RETENTION_DAYS'],
    );
    assert.equal(err.message.split('\n').length, 2);
  });

  describe('in production', () => {
    it('refuses to start without the secrets', () => {
      const message = problemOf({ STREAMING_ENV: 'production' });
      assert.match(message, /^STREAMING_JWT_SECRET must be set in production/m);
      assert.match(message, /^STREAMING_CODE_HASH_KEY must be set in production/m);
      assert.match(message, /^STREAMING_CODE_ENCRYPTION_KEY must be set in production/m);
      assert.match(message, /^STREAMING_AUDIT_KEY must be set in production/m);
    });

    it('refuses the development secret even when set explicitly', () => {
      const dev = loadConfig({}).auth.jwtSecret;
      const message = problemOf({ ...PROD_SECRETS, STREAMING_JWT_SECRET: dev });
      assert.equal(
        message,
        'STREAMING_JWT_SECRET must not be the development default in production (set a secret of at least 32 characters)',
      );
    });

    it('refuses a scrypt cost under OWASP guidance, which test suites may set', () => {
      assert.equal(
        problemOf({ ...PROD_SECRETS, STREAMING_PASSWORD_SCRYPT_LOG_N: '12' }),
        'STREAMING_PASSWORD_SCRYPT_LOG_N must be at least 17 in production (OWASP scrypt guidance; lower costs are for test suites)',
      );
      assert.equal(loadConfig(PROD_SECRETS).auth.passwordLogN, 17);
      assert.equal(
        loadConfig({ STREAMING_ENV: 'test', STREAMING_PASSWORD_SCRYPT_LOG_N: '12' }).auth
          .passwordLogN,
        12,
      );
    });

    it('does not start without suppliers', () => {
      const { STREAMING_SUPPLIERS: _s, STREAMING_DEFAULT_SUPPLIERS: _d, ...rest } = PROD_SECRETS;
      const message = problemOf(rest);
      assert.match(message, /^STREAMING_SUPPLIERS must be set in production/m);
      assert.match(message, /^STREAMING_DEFAULT_SUPPLIERS must be set in production/m);
    });

    it('does not start on the simulator accounts, even given explicitly', () => {
      const dev = loadConfig({});
      const message = problemOf({
        ...PROD_SECRETS,
        STREAMING_SUPPLIERS: JSON.stringify(
          dev.suppliers.map((a) => ({
            id: a.id,
            vendor: a.vendor,
            endpoint: a.endpoint,
            accessKeyId: a.accessKeyId,
            accessKeySecret: a.accessKeySecret,
            signName: a.signName,
            webhookSecret: a.webhookSecret,
            ...(a.smsSdkAppId ? { smsSdkAppId: a.smsSdkAppId } : {}),
          })),
        ),
        STREAMING_DEFAULT_SUPPLIERS: 'sim-aliyun',
      });
      assert.equal(message.split('\n').length, 1, message);
      assert.match(message, /^STREAMING_SUPPLIERS must hold real vendor accounts in production/);
      assert.match(message, /\(sim-aliyun\) is a simulator account/);
      assert.ok(!message.includes(dev.suppliers[0]!.accessKeySecret), 'no secret echoed');
    });

    for (const [what, change, reason] of [
      ['a simulator-named account', { id: 'sim-real' }, 'is a simulator account'],
      ['a plain-http endpoint', { endpoint: 'http://dysmsapi.aliyuncs.com/' }, 'plain-http'],
      ['a loopback endpoint', { endpoint: 'https://127.0.0.1:8443/' }, 'loopback'],
      ['a localhost endpoint', { endpoint: 'https://localhost/' }, 'loopback'],
      [
        'a development webhook secret',
        { webhookSecret: 'sim-aliyun-webhook-secret' },
        'development credential or webhook secret',
      ],
    ] as const) {
      it(`does not start with ${what}`, () => {
        const account = { ...REAL_ACCOUNT, ...change };
        const message = problemOf({
          ...PROD_SECRETS,
          STREAMING_SUPPLIERS: JSON.stringify([account]),
          STREAMING_DEFAULT_SUPPLIERS: account.id,
        });
        assert.equal(message.split('\n').length, 1, message);
        assert.match(message, /^STREAMING_SUPPLIERS must hold real vendor accounts/);
        assert.ok(message.includes(reason), message);
      });
    }

    it('development keeps the simulator accounts by default', () => {
      const c = loadConfig({});
      assert.deepEqual(
        c.suppliers.map((a) => a.id),
        ['sim-aliyun', 'sim-tencent'],
      );
      assert.deepEqual(c.defaultSuppliers, ['sim-aliyun', 'sim-tencent']);
    });

    it('starts with real secrets', () => {
      const c = loadConfig(PROD_SECRETS);
      assert.equal(c.env, 'production');
      assert.equal(c.auth.jwtSecret, PROD_SECRETS.STREAMING_JWT_SECRET);
      assert.deepEqual(
        c.codes.encryptionKey,
        Buffer.from(PROD_SECRETS.STREAMING_CODE_ENCRYPTION_KEY, 'base64'),
      );
    });

    it('refuses a development key however it is written, and in any key variable', () => {
      const devHex = DEV_CODE_HASH_KEY;
      const bytes = Buffer.from(devHex, 'hex');
      const spellings = [
        devHex.toUpperCase(),
        bytes.toString('base64'),
        bytes.toString('base64url'),
        bytes.toString('base64').replace(/=$/, ''),
        ` ${devHex} `,
      ];
      for (const spelling of spellings) {
        for (const name of [
          'STREAMING_CODE_HASH_KEY',
          'STREAMING_AUDIT_KEY',
          'STREAMING_API_KEY_HASH_KEY',
          'STREAMING_CODE_ENCRYPTION_KEY',
        ]) {
          const message = problemOf({ ...PROD_SECRETS, [name]: spelling });
          assert.equal(
            message,
            `${name} must not be the development default in production (set 32 bytes written as 64 hex characters or as base64)`,
            `${name} = ${spelling}`,
          );
        }
      }
      // the development JWT secret as a key's text, and a development key as the JWT secret
      assert.match(
        problemOf({ ...PROD_SECRETS, STREAMING_JWT_SECRET: DEV_AUDIT_KEY.toUpperCase() }),
        /^STREAMING_JWT_SECRET must not be the development default in production/,
      );
      assert.match(
        problemOf({ ...PROD_SECRETS, STREAMING_JWT_SECRET: DEV_AUDIT_KEY }),
        /^STREAMING_JWT_SECRET must not be the development default in production/,
      );
      // outside production the defaults (and patterns) are fine
      assert.ok(loadConfig({ STREAMING_CODE_HASH_KEY: devHex.toUpperCase() }));
      assert.ok(loadConfig({ STREAMING_JWT_SECRET: 'x'.repeat(40) }));
    });

    it('refuses low-entropy keys, naming why and never echoing them', () => {
      const key = (bytes: number[] | Buffer) => Buffer.from(bytes).toString('hex');
      const block = randomBytes(16);
      const cases: [string, string, RegExp][] = [
        ['STREAMING_CODE_HASH_KEY', 'ab'.repeat(32), /fewer than 16 distinct bytes/],
        ['STREAMING_AUDIT_KEY', key(Buffer.alloc(32, 7)), /fewer than 16 distinct bytes/],
        [
          'STREAMING_CODE_ENCRYPTION_KEY',
          key(Array.from({ length: 32 }, (_, i) => i)),
          /counting or stepping sequence/,
        ],
        [
          'STREAMING_API_KEY_HASH_KEY',
          key(Array.from({ length: 32 }, (_, i) => (i * 37 + 5) % 256)),
          /counting or stepping sequence/,
        ],
        [
          'STREAMING_CODE_HASH_KEY',
          key(Buffer.concat([block, block])),
          /repeats a block of 16|fewer than 16 distinct bytes/,
        ],
        [
          'STREAMING_AUDIT_KEY',
          Buffer.from('my-audit-key-for-production-2026', 'utf8').toString('hex'),
          /text written as hex or base64/,
        ],
        [
          'STREAMING_AUDIT_KEY',
          Buffer.from('Th1s!s#MyVery$ecretAud1tKey2026.', 'utf8').toString('base64'),
          /text written as hex or base64/,
        ],
        ['STREAMING_JWT_SECRET', 'x'.repeat(40), /fewer than 12 distinct characters/],
        ['STREAMING_JWT_SECRET', 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ', /counting/],
        ['STREAMING_JWT_SECRET', 'Pa55w0rd!Zebra#Q'.repeat(3), /repeats a block of 16/],
        [
          'STREAMING_JWT_SECRET',
          'correct-horse-battery-staple-of-our-company',
          /phrase of lower-case words/,
        ],
      ];
      for (const [name, value, why] of cases) {
        const message = problemOf({ ...PROD_SECRETS, [name]: value });
        assert.match(message, new RegExp(`^${name} must be random in production: the value `));
        assert.match(message, why, `${name}=${value}: ${message}`);
        assert.ok(!message.includes(value), 'the value is not echoed');
        assert.equal(message.split('\n').length, 1);
      }
    });

    it('never refuses a generated key (hex, base64, base64url; 2000 of each)', () => {
      for (let i = 0; i < 2000; i++) {
        const bytes = randomBytes(32);
        assert.equal(lowEntropyReason(bytes.toString('hex'), 'key32'), undefined);
        assert.equal(lowEntropyReason(bytes.toString('base64'), 'key32'), undefined);
        assert.equal(lowEntropyReason(randomBytes(36).toString('base64url'), 'text'), undefined);
        assert.equal(lowEntropyReason(randomBytes(32).toString('hex'), 'text'), undefined);
      }
    });

    it('refuses one key for two purposes', () => {
      assert.equal(
        problemOf({
          ...PROD_SECRETS,
          STREAMING_API_KEY_HASH_KEY: Buffer.from(
            PROD_SECRETS.STREAMING_CODE_HASH_KEY,
            'hex',
          ).toString('base64'),
        }),
        'STREAMING_API_KEY_HASH_KEY must differ from STREAMING_CODE_HASH_KEY (one key per purpose)',
      );
    });
  });

  it('lists STREAMING_* variables it does not know (typos)', () => {
    assert.deepEqual(
      unknownVariables({
        STREAMING_HTTP_PORT: '1',
        STREAMING_ENV: 'test',
        STREAMING_STACK_DIR: 'x',
        HOME: '/',
      }),
      ['STREAMING_HTTP_PORT'],
    );
  });
});

describe('receipt timings', () => {
  it('default to 5 min, 72 h and 10 min, and take units', () => {
    assert.deepEqual(loadConfig({}).receipts, {
      pullAfterMs: 300_000,
      expireAfterMs: 259_200_000,
      reconcileWindowMs: 600_000,
    });
    const c = loadConfig({
      STREAMING_RECEIPT_PULL_AFTER: '500ms',
      STREAMING_RECEIPT_EXPIRE_AFTER: '3s',
      STREAMING_RECEIPT_RECONCILE_WINDOW: '2s',
    });
    assert.deepEqual(c.receipts, {
      pullAfterMs: 500,
      expireAfterMs: 3000,
      reconcileWindowMs: 2000,
    });
  });
  it('refuse what is not a duration, naming the variable', () => {
    assert.match(
      problemOf({ STREAMING_RECEIPT_PULL_AFTER: '5 minutes' }),
      /^STREAMING_RECEIPT_PULL_AFTER must be a duration/,
    );
  });
});

describe('docs/configuration.md', () => {
  it('is exactly what renderConfigDocs() generates (regenerate: node platform/config/docs.ts)', () => {
    assert.equal(readFileSync(configDocsPath, 'utf8'), renderConfigDocs());
  });

  it('documents every variable', () => {
    const docs = renderConfigDocs();
    for (const name of ['STREAMING_ENV', 'STREAMING_SUPPLIERS', 'STREAMING_JOBS_SWEEPER_CRON']) {
      assert.ok(docs.includes('`' + name + '`'), name);
    }
  });
});
