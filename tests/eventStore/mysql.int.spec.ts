import { MysqlEventStore } from '../../platform/eventStore/index.ts';
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
