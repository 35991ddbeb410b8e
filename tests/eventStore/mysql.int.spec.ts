import { randomBytes } from 'node:crypto';
import { MysqlEventStore, redisAppendWakes } from '../../platform/eventStore/index.ts';
import { freshDatabase } from '../../testing/mysql.ts';
import { eventStoreContract } from './contract.ts';

eventStoreContract('mysql', async () => {
  const db = await freshDatabase('es');
  const store = await MysqlEventStore.create(db.pool);
  return {
    store,
    childEnv: { APPENDER_STORE: 'mysql', APPENDER_URL: db.url },
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
});

// As openEventStore runs it: subscriptions woken through Redis by the
// appenders of other processes, polling only as a fallback.
const REDIS_URL = 'redis://127.0.0.1:6379/0';
eventStoreContract('mysql, woken through Redis', async () => {
  const db = await freshDatabase('es');
  const channel = `t:${randomBytes(4).toString('hex')}:es:committed`;
  const store = await MysqlEventStore.create(db.pool, {
    wakes: redisAppendWakes({ url: REDIS_URL, channel }),
  });
  return {
    store,
    childEnv: {
      APPENDER_STORE: 'mysql',
      APPENDER_URL: db.url,
      APPENDER_WAKES_URL: REDIS_URL,
      APPENDER_WAKES_CHANNEL: channel,
    },
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
});
