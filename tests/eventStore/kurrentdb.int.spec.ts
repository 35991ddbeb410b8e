import { test } from 'node:test';
import { KurrentDbEventStore } from '../../platform/eventStore/index.ts';
import { eventStoreContract } from './contract.ts';

// KurrentDB cannot run on the development machines; docker-compose.yml runs it.
// Set STREAMING_KURRENTDB_URL (e.g. kurrentdb://127.0.0.1:2113?tls=false) to run the contract.
const url = process.env.STREAMING_KURRENTDB_URL;

if (url) {
  eventStoreContract('kurrentdb', async () => {
    const store = new KurrentDbEventStore(url);
    return {
      store,
      childEnv: { APPENDER_STORE: 'kurrentdb', APPENDER_URL: url },
      cleanup: () => store.close(),
    };
  });
} else {
  test('event store contract: kurrentdb', {
    skip: 'SKIPPED: STREAMING_KURRENTDB_URL is not set, so the KurrentDB contract tests did not run',
  });
}
