// The Mongo client across a restart of its server (FerretDB, stop, wait,
// start), on a FerretDB of this file's own (tests/support/privateStack.ts,
// a port no other test uses): it is usable again within seconds; and when
// its server monitor has gone silent, the state a projectors process was
// found in after a FerretDB restart (server selection failing for 18
// minutes on the error of one closed connection), the watchdog connects it
// again once the server answers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../platform/logger/index.ts';
import { privateStack, type PrivateStack } from '../support/privateStack.ts';
import { createMongo, type MongoHandle } from '../../platform/clients/index.ts';

const MONGO_PORT = 27986;

function logCapture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  return { lines, logger: createLogger({ logLevel: 'info' }, { name: 'mongo-test', stream }) };
}

/** Polls `work` until it succeeds; the time it took. */
async function usableAgain(work: () => Promise<unknown>, ms: number): Promise<number> {
  const started = Date.now();
  let last: unknown;
  while (Date.now() - started < ms) {
    try {
      await work();
      return Date.now() - started;
    } catch (err) {
      last = err;
      await sleep(250);
    }
  }
  throw new Error(`still failing after ${ms} ms: ${String(last)}`);
}

interface DriverInternals {
  topology?: { s: { servers: Map<string, { monitor?: { close(): void } }> } };
}

describe('the Mongo client across a FerretDB restart', () => {
  let stack: PrivateStack;
  before(async () => {
    stack = await privateStack('mongo-restart-test', { mongo: MONGO_PORT }, ['ferretdb']);
  });
  after(async () => {
    await stack?.down();
  });

  it('is usable again within seconds of the server coming back', async () => {
    const logs = logCapture();
    const mongo: MongoHandle = createMongo(
      { mongo: { url: stack.env.STREAMING_MONGO_URL! } },
      logs.logger,
    );
    try {
      const col = mongo.db.collection(`restart${randomBytes(4).toString('hex')}`);
      await col.insertOne({ at: 'before' });
      await stack.restart(['ferretdb'], 5_000);
      // bounded far above the heartbeat (5 s) so that a loaded machine passes; a stuck client never does
      await usableAgain(() => col.insertOne({ at: 'after' }), 90_000);
      assert.equal(await col.countDocuments(), 2);
    } finally {
      mongo.stopWatchdog?.();
      await mongo.client.close();
    }
  });

  it('connects again when its server monitor went silent', async () => {
    const logs = logCapture();
    const mongo = createMongo({ mongo: { url: stack.env.STREAMING_MONGO_URL! } }, logs.logger, {
      stuckMs: 3_000,
      everyMs: 500,
    });
    try {
      const col = mongo.db.collection(`silent${randomBytes(4).toString('hex')}`);
      await col.insertOne({ at: 'before' });
      // the monitor stops checking the server (driver internals: how the stuck process looked)
      const topology = (mongo.client as unknown as DriverInternals).topology!;
      for (const server of topology.s.servers.values()) server.monitor?.close();
      let unknown = false;
      mongo.client.on('serverDescriptionChanged', (e) => {
        if (e.newDescription.type === 'Unknown') unknown = true;
      });
      // writes in flight while the server goes away: one meets its closed socket, and the
      // client marks the server unknown (nothing but a monitor would mark it known again)
      let writing = true;
      const writer = (async () => {
        while (writing) {
          await col.insertOne({ at: 'during' }).catch(() => sleep(100));
        }
      })();
      await stack.restart(['ferretdb'], 2_000);
      writing = false;
      await writer;
      assert.ok(unknown, 'the client lost the server');
      await usableAgain(() => col.insertOne({ at: 'after' }), 90_000);
      assert.ok(
        logs.lines.some((l) => String(l.message).startsWith('mongo client cut off')),
        'the watchdog said what it did',
      );
      assert.equal(await col.countDocuments({ at: 'after' }), 1);
    } finally {
      mongo.stopWatchdog?.();
      await mongo.client.close();
    }
  });
});
