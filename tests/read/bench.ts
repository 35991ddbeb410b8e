// Shared by bench/replay.ts and bench/lag.ts: a fresh read side (own MySQL
// database with the event store, own Mongo database, own Redis prefix) and a
// generator of message events in the shapes the command side and the
// dispatcher append.
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../../platform/config/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { MysqlEventStore, type NewEvent } from '../../platform/eventStore/index.ts';
import type { ProjectorDeps } from '../../projectors/index.ts';
import { freshDatabase } from '../support/mysql.ts';
import { dropReadModelDatabases } from '../../platform/readModels/index.ts';

export async function benchReadSide(name: string) {
  const database = await freshDatabase(name, 30);
  const mongoName = `streaming_t_${name}_${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    STREAMING_MYSQL_URL: database.url,
    STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${mongoName}`,
    STREAMING_LOG_LEVEL: 'warn',
  });
  const eventStore = await MysqlEventStore.create(database.pool, { pollIntervalMs: 20 });
  const redis = new Redis(config.redis.url);
  const client = new MongoClient(config.mongo.url, { retryWrites: false });
  const deps: ProjectorDeps & { eventStore: MysqlEventStore } = {
    config,
    logger: createLogger(config),
    eventStore,
    mysql: database.pool,
    redis,
    mongo: { client, db: client.db(mongoName) },
    redisPrefix: `bench:${randomBytes(4).toString('hex')}:`,
  };
  return {
    deps,
    async drop() {
      await eventStore.close();
      const keys = await redis.keys(`${deps.redisPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      await dropReadModelDatabases(deps.mongo.db).catch(() => undefined);
      await client.close();
      await database.drop();
    },
  };
}

const tenants = Array.from({ length: 20 }, () => randomUUID());

export function accepted(i: number, messageId = randomUUID()): NewEvent {
  const tenantId = tenants[i % tenants.length]!;
  return {
    type: 'sms.accepted.v1',
    data: {
      messageId,
      tenantId,
      templateId: `tpl-${i % 50}`,
      templateCode: `code_${i % 50}`,
      kind: 'notification',
      mobile: `+86138${String(i % 100_000_000).padStart(8, '0')}`,
      content: `【Acme】Your parcel ${i} is on its way`,
      params: { n: String(i) },
      segments: 1,
      encoding: 'UCS-2',
      suppliers: ['aliyun-main', 'tencent-main'],
      requestHash: `h${i}`,
      acceptedAt: new Date().toISOString(),
    },
    metadata: { actor: { type: 'user', id: tenantId } },
  };
}

export function outcomes(messageId: string, i: number): NewEvent[] {
  const sid = `sid-${i}`;
  return [
    {
      type: 'sms.submitted.v1',
      data: {
        messageId,
        supplierAccount: 'aliyun-main',
        supplierMessageId: sid,
        attempt: 1,
        latencyMs: 20,
      },
    },
    {
      type: 'sms.delivered.v1',
      data: {
        messageId,
        supplierAccount: 'aliyun-main',
        supplierMessageId: sid,
        deliveredAt: new Date().toISOString(),
      },
    },
  ];
}

export function machine() {
  return { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', load: os.loadavg() };
}
