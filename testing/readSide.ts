// The read side under test: its own MySQL database (with the event store in
// it), its own Mongo database and its own Redis key prefix.
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { loadConfig, type Config } from '../platform/config/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import { MysqlEventStore, type NewEvent } from '../platform/eventStore/index.ts';
import type { Actor } from '../platform/eventStore/index.ts';
import type { ProjectorDeps } from '../projectors/index.ts';
import { freshDatabase, type TestDatabase } from './mysql.ts';
import { dropReadModelDatabases } from '../platform/readModels/index.ts';

/** Shared Redis database: tests keep to their own key prefix there. */
export const REDIS_URL = 'redis://127.0.0.1:6379/0';
/** The Redis database this area owns exclusively: the only one a test may flush. */
export const OWN_REDIS_URL = 'redis://127.0.0.1:6379/3';

export interface ReadSide {
  deps: ProjectorDeps & { eventStore: MysqlEventStore };
  config: Config;
  database: TestDatabase;
  mongoName: string;
  drop(): Promise<void>;
}

export async function readSide(
  prefix: string,
  env: Record<string, string> = {},
  redisUrl = REDIS_URL,
  poolSize?: number,
): Promise<ReadSide> {
  const database = await freshDatabase(prefix, poolSize);
  const mongoName = `streaming_t_${prefix}_${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    STREAMING_MYSQL_URL: database.url,
    STREAMING_REDIS_URL: redisUrl,
    STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${mongoName}`,
    STREAMING_LOG_LEVEL: 'warn',
    ...env,
  });
  const logger = createLogger(config);
  const eventStore = await MysqlEventStore.create(database.pool, { pollIntervalMs: 20 });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  const client = new MongoClient(config.mongo.url, { retryWrites: false });
  const db = client.db(mongoName);
  const deps = {
    config,
    logger,
    eventStore,
    mysql: database.pool,
    redis,
    mongo: { client, db },
    redisPrefix: `t:${randomBytes(4).toString('hex')}:`,
  };
  return {
    deps,
    config,
    database,
    mongoName,
    async drop() {
      await eventStore.close();
      const keys = await redis.keys(`${deps.redisPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      await dropReadModelDatabases(db).catch(() => undefined);
      await client.close();
      await database.drop();
    },
  };
}

// A mixed workload ---------------------------------------------------------
const actor = (id: string): Actor => ({ type: 'user', id });
const sys: Actor = { type: 'system', id: 'dispatcher' };
const policy = { mobile: { maxPerHour: 5 } };

export interface Workload {
  tenants: string[];
  messages: string[];
  templates: { id: string; code: string; tenant: string }[];
  lastPosition: number;
}

function ts(base: number, i: number): string {
  return new Date(base + i * 1000).toISOString();
}

/**
 * Appends users, templates (created, updated, disabled, enabled), messages in
 * every outcome (submitted, delivered, undelivered, failed, failed over,
 * retried, uncertain, receipt before submission), inbound messages and
 * opt-outs. `messages` per tenant.
 */
export async function appendWorkload(
  store: MysqlEventStore,
  options: { tenants?: number; messages?: number; base?: number } = {},
): Promise<Workload> {
  const base = options.base ?? Date.parse('2026-03-01T08:00:00.000Z');
  const tenantCount = options.tenants ?? 2;
  const perTenant = options.messages ?? 12;
  const tenants: string[] = [];
  const templates: Workload['templates'] = [];
  const messages: string[] = [];
  let clock = 0;
  let last = 0;
  const put = async (stream: string, events: NewEvent[], expected: 'no_stream' | 'any' = 'any') => {
    const r = await store.append(stream, events, expected);
    last = r.position;
    return r;
  };
  const ev = (type: string, data: Record<string, unknown>, who = sys): NewEvent => ({
    type,
    data,
    metadata: { actor: who, timestamp: ts(base, clock++), requestId: randomUUID() },
  });

  for (let t = 0; t < tenantCount; t++) {
    const userId = randomUUID();
    tenants.push(userId);
    const username = `tenant${t}_${randomBytes(3).toString('hex')}`;
    await put(
      `username-${username}`,
      [ev('username.reserved.v1', { username, userId }, actor(userId))],
      'no_stream',
    );
    await put(`user-${userId}`, [
      ev(
        'user.registered.v1',
        { userId, username, passwordHash: 'scrypt$secret', role: t === 0 ? 'admin' : 'member' },
        actor(userId),
      ),
    ]);
    for (const kind of ['notification', 'verification'] as const) {
      const id = randomUUID();
      const code = `${kind.slice(0, 4)}_${randomBytes(3).toString('hex')}`;
      templates.push({ id, code, tenant: userId });
      await put(`template-${id}`, [
        ev(
          'template.created.v1',
          {
            templateId: id,
            templateCode: code,
            tenantId: userId,
            name: `${kind} template`,
            kind,
            signature: 'Acme',
            content: kind === 'verification' ? 'Your code is ${code}' : 'Hello ${name}',
            suppliers: ['aliyun-main', 'tencent-main'],
            policy,
            ...(kind === 'verification'
              ? { verification: { codeLength: 6, ttlSeconds: 300, maxAttempts: 3 } }
              : { extendCode: `1${t}` }),
          },
          actor(userId),
        ),
      ]);
    }
  }
  // template changes
  const t0 = templates[0]!;
  await put(`template-${t0.id}`, [
    ev(
      'template.updated.v1',
      { templateCode: t0.code, content: 'Hi ${name}!', extendCode: '77' },
      actor(t0.tenant),
    ),
  ]);
  // the second tenant's notification template loses its extension code
  const t2 = templates[2];
  if (t2) {
    await put(`template-${t2.id}`, [
      ev('template.updated.v1', { templateCode: t2.code, extendCode: null }, actor(t2.tenant)),
    ]);
  }
  const t1 = templates[1]!;
  await put(`template-${t1.id}`, [
    ev('template.disabled.v1', { templateCode: t1.code }, actor(t1.tenant)),
  ]);
  await put(`template-${t1.id}`, [
    ev('template.enabled.v1', { templateCode: t1.code }, actor(t1.tenant)),
  ]);
  const tLast = templates[templates.length - 1]!;
  await put(`template-${tLast.id}`, [
    ev('template.disabled.v1', { templateCode: tLast.code }, actor(tLast.tenant)),
  ]);

  for (let i = 0; i < perTenant * tenantCount; i++) {
    const tenant = tenants[i % tenantCount]!;
    const template = templates.filter((t) => t.tenant === tenant)[i % 2]!;
    const verification = i % 2 === 1;
    const messageId = randomUUID();
    messages.push(messageId);
    const mobile = `+86138${String(10000000 + (i % 7)).padStart(8, '0')}`;
    const stream = `message-${messageId}`;
    await put(
      stream,
      [
        ev(
          'sms.accepted.v1',
          {
            messageId,
            tenantId: tenant,
            templateId: template.id,
            templateCode: template.code,
            kind: verification ? 'verification' : 'notification',
            mobile,
            signature: 'Acme',
            content: verification ? '【Acme】Your code is ******' : `【Acme】Hello user${i}`,
            ...(verification
              ? {
                  sealedContent: 'sealed:abcdef',
                  sealedParams: 'sealed:params-secret',
                  verificationId: randomUUID(),
                  params: {},
                }
              : { params: { name: `user${i}` } }),
            segments: 1 + (i % 2),
            encoding: 'UCS-2',
            suppliers: ['aliyun-main', 'tencent-main'],
            requestHash: `h${i}`,
            acceptedAt: ts(base, clock++),
          },
          actor(tenant),
        ),
      ],
      'no_stream',
    );
    if (verification) {
      await put(`verification-${template.code}-${i}`, [
        ev('verification.issued.v1', {
          verificationId: randomUUID(),
          messageId,
          templateCode: template.code,
          codeHash: 'hmac:deadbeef',
          expiresAt: ts(base, clock + 300),
          maxAttempts: 3,
        }),
      ]);
    }
    const sid = `sid-${i}`;
    const reason = (code: string) => ({ code, message: `${code} happened` });
    switch (i % 8) {
      case 0: // submitted and delivered
        await put(stream, [
          ev('sms.submitted.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            supplierMessageId: sid,
            attempt: 1,
            latencyMs: 12,
          }),
        ]);
        await put(stream, [
          ev('sms.delivered.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            supplierMessageId: sid,
            deliveredAt: ts(base, clock++),
          }),
        ]);
        break;
      case 1: // submitted, undelivered
        await put(stream, [
          ev('sms.submitted.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            supplierMessageId: sid,
            attempt: 1,
          }),
        ]);
        await put(stream, [
          ev('sms.undelivered.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            supplierMessageId: sid,
            reason: reason('EXPIRED'),
          }),
        ]);
        break;
      case 2: // failed over, then submitted and delivered
        await put(stream, [
          ev('sms.failed-over.v1', {
            messageId,
            fromAccount: 'aliyun-main',
            toAccount: 'tencent-main',
            reason: reason('REJECTED'),
          }),
        ]);
        await put(stream, [
          ev('sms.submitted.v1', {
            messageId,
            supplierAccount: 'tencent-main',
            supplierMessageId: sid,
            attempt: 2,
          }),
        ]);
        await put(stream, [
          ev('sms.delivered.v1', {
            messageId,
            supplierAccount: 'tencent-main',
            supplierMessageId: sid,
            deliveredAt: ts(base, clock++),
          }),
        ]);
        break;
      case 3: // failed for good
        await put(stream, [
          ev('sms.failed.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            reason: reason('INVALID_NUMBER'),
          }),
        ]);
        break;
      case 4: // retried, uncertain, reconciled
        await put(stream, [
          ev('sms.retry-scheduled.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            attempt: 1,
            dueAt: ts(base, clock + 5),
            reason: reason('THROTTLED'),
          }),
        ]);
        await put(stream, [
          ev('sms.submission-uncertain.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            attempt: 2,
            reason: reason('TIMEOUT'),
          }),
        ]);
        await put(stream, [
          ev('sms.submitted.v1', {
            messageId,
            supplierAccount: 'aliyun-main',
            supplierMessageId: sid,
            reconciled: true,
          }),
        ]);
        break;
      case 5: // receipt before the submission record
        await put(stream, [
          ev('sms.delivered.v1', {
            messageId,
            supplierAccount: 'tencent-main',
            supplierMessageId: sid,
            deliveredAt: ts(base, clock++),
          }),
        ]);
        break;
      default: // still accepted
        break;
    }
  }
  // inbound and opt-out
  for (let i = 0; i < tenantCount * 2; i++) {
    const inboundId = randomUUID();
    const tenant = tenants[i % tenantCount]!;
    const stop = i < tenantCount; // one opt-out per tenant
    const mobile = `+8613900000${String(i).padStart(3, '0')}`;
    await put(`inbound-${inboundId}`, [
      ev('inbound.received.v1', {
        inboundId,
        supplierAccount: 'aliyun-main',
        vendor: 'aliyun',
        mobile,
        content: stop ? 'STOP' : 'thanks',
        receivedAt: ts(base, clock++),
        tenantId: tenant,
      }),
    ]);
    if (stop) {
      await put(`optout-${tenant}-${mobile}`, [
        ev('mobile.opted-out.v1', { tenantId: tenant, mobile, keyword: 'STOP', inboundId }),
      ]);
    }
  }
  return { tenants, messages, templates, lastPosition: last };
}
