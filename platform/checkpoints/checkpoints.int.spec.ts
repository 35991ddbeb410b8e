// The one checkpoint table, and the migration from the three it replaced, on
// real MariaDB: a database written by the previous release (its three tables,
// created with that release's DDL) keeps every position, and each kind of
// component goes on from exactly where it stopped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { catchUpIndex, ensureJobTables, INDEX_CHECKPOINT } from '../../jobs/indexes.ts';
import { runCheckpointed } from '../../processors/singleton.ts';
import type { ProcessorDeps } from '../../processors/deps.ts';
import { mysqlProjection } from '../../projectors/mysqlProjection.ts';
import { liveTarget, type ProjectorDeps } from '../../projectors/types.ts';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { acceptedEvent } from '../../tests/jobs/support/messages.ts';
import { MysqlEventStore, type EventStore, type RecordedEvent } from '../eventStore/index.ts';
import { createLogger } from '../logger/index.ts';
import mysql from 'mysql2/promise';
import {
  CHECKPOINT_TABLE,
  ensureCheckpoints,
  LEGACY_CHECKPOINT_TABLES,
  readCheckpoint,
  saveCheckpoint,
  setCheckpoint,
} from './index.ts';

// The previous release's DDL, verbatim (processors/store.ts, projectors/mysqlProjection.ts,
// jobs/indexes.ts before the one table).
const legacyDdl = [
  `CREATE TABLE IF NOT EXISTS processor_checkpoints (
    name VARCHAR(100) NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS projection_checkpoints (
  name VARCHAR(190) NOT NULL PRIMARY KEY,
  position BIGINT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS job_checkpoints (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    position BIGINT UNSIGNED NOT NULL
  ) ENGINE=InnoDB`,
];

async function writeLegacy(pool: mysql.Pool, rows: Record<string, [string, number][]>) {
  for (const ddl of legacyDdl) await pool.query(ddl);
  for (const [table, entries] of Object.entries(rows)) {
    for (const [name, position] of entries) {
      if (table === 'projection_checkpoints') {
        await pool.query(
          `INSERT INTO ${table} (name, position, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))`,
          [name, position],
        );
      } else {
        await pool.query(`INSERT INTO ${table} (name, position) VALUES (?, ?)`, [name, position]);
      }
    }
  }
}

async function tables(pool: mysql.Pool): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1',
  );
  return rows.map((r) => String(r.name));
}

async function allCheckpoints(pool: mysql.Pool): Promise<Record<string, number>> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT name, position FROM ${CHECKPOINT_TABLE} ORDER BY name`,
  );
  return Object.fromEntries(rows.map((r) => [String(r.name), Number(r.position)]));
}

const quiet = createLogger({ logLevel: 'error' }, { stream: process.stderr });

describe('checkpoints: the one table', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase('checkpoints');
  });
  after(async () => {
    await db.drop();
  });

  it('carries the three old tables over once, with every position, when several processes start at once', async () => {
    const legacy: Record<string, [string, number][]> = {
      processor_checkpoints: [
        ['relay.sms-dispatch', 1_234],
        ['callbacks.sender', 99],
        ['timers.index', 2 ** 40],
      ],
      projection_checkpoints: [
        ['message_history@3', 500],
        ['message_history@3#b17', 77],
        ['tenants@1', 0],
      ],
      job_checkpoints: [[INDEX_CHECKPOINT, 4_321]],
    };
    await writeLegacy(db.pool, legacy);
    // three processes of the new release start together, each with its own pool
    const pools = [0, 1, 2].map(() => mysql.createPool({ uri: db.url, connectionLimit: 3 }));
    try {
      await Promise.all(pools.map((p) => ensureCheckpoints(p)));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    assert.deepEqual(
      await allCheckpoints(db.pool),
      Object.fromEntries(Object.values(legacy).flat()),
    );
    const left = await tables(db.pool);
    for (const old of LEGACY_CHECKPOINT_TABLES) assert.ok(!left.includes(old), old);
    assert.ok(left.includes(CHECKPOINT_TABLE));
  });

  it('keeps the greater position when a copy was interrupted before the old table was dropped', async () => {
    const other = await freshDatabase('checkpoints_again');
    try {
      await ensureCheckpoints(other.pool); // the new table, already in use
      await saveCheckpoint(other.pool, 'relay.sms-dispatch', 900);
      await saveCheckpoint(other.pool, 'tenants@1', 10);
      // what an interrupted earlier copy left: the old table, some rows behind, some ahead
      await writeLegacy(other.pool, {
        processor_checkpoints: [['relay.sms-dispatch', 800]],
        projection_checkpoints: [['tenants@1', 12]],
      });
      const fresh = mysql.createPool({ uri: other.url, connectionLimit: 2 });
      try {
        await ensureCheckpoints(fresh);
      } finally {
        await fresh.end();
      }
      assert.deepEqual(await allCheckpoints(other.pool), {
        'relay.sms-dispatch': 900,
        'tenants@1': 12,
      });
      const left = await tables(other.pool);
      for (const old of LEGACY_CHECKPOINT_TABLES) assert.ok(!left.includes(old), old);
    } finally {
      await other.drop();
    }
  });

  it('never moves a saved checkpoint back; a swap may set it back on purpose', async () => {
    await ensureCheckpoints(db.pool);
    await saveCheckpoint(db.pool, 'x', 10);
    await saveCheckpoint(db.pool, 'x', 7);
    assert.equal(await readCheckpoint(db.pool, 'x'), 10);
    await setCheckpoint(db.pool, 'x', 7);
    assert.equal(await readCheckpoint(db.pool, 'x'), 7);
    assert.equal(await readCheckpoint(db.pool, 'no-such-name'), 0);
  });
});

describe('checkpoints: components go on from the old positions after the upgrade', () => {
  let db: TestDatabase;
  let store: EventStore;
  let positions: number[];

  before(async () => {
    db = await freshDatabase('checkpoints_resume');
    store = await MysqlEventStore.create(db.pool);
    positions = [];
    for (let i = 0; i < 10; i++) {
      const id = `probe-${i}`;
      const r = await store.append(
        `message-${id}`,
        [acceptedEvent(id, 'tenant-probe', new Date())],
        'no_stream',
      );
      positions.push(r.position);
    }
    await writeLegacy(db.pool, {
      processor_checkpoints: [['probe.processor', positions[5]!]],
      projection_checkpoints: [['probes@1', positions[3]!]],
      job_checkpoints: [[INDEX_CHECKPOINT, positions[7]!]],
    });
  });
  after(async () => {
    await store.close();
    await db.drop();
  });

  it('a processor handles exactly the events after its old checkpoint', async () => {
    const seen: number[] = [];
    const deps = { logger: quiet, mysql: db.pool, eventStore: store } as unknown as ProcessorDeps;
    let done: () => void = () => undefined;
    const caughtUp = new Promise<void>((resolve) => (done = resolve));
    const running = await runCheckpointed(deps, {
      name: 'probe.processor',
      checkpoint: 'probe.processor',
      types: ['sms.accepted.v1'],
      async handle(events: RecordedEvent[]) {
        seen.push(...events.map((e) => e.position));
        if (seen.includes(positions[9]!)) done();
      },
    });
    try {
      await caughtUp;
    } finally {
      await running.close();
    }
    assert.deepEqual(seen, positions.slice(6));
    assert.equal(await readCheckpoint(db.pool, 'probe.processor'), positions[9]);
  });

  it('a MySQL projection reads its old checkpoint', async () => {
    const projection = mysqlProjection({
      name: 'probes',
      version: 1,
      model: {
        table: 'probe_rows',
        key: 'id',
        columns: ['id', 'updated_position'],
        ddl: (t) =>
          `CREATE TABLE IF NOT EXISTS \`${t}\` (id VARCHAR(64) PRIMARY KEY, updated_position BIGINT NOT NULL)`,
        keyOf: () => undefined,
        reduce: (row) => row,
      },
    });
    const deps = { mysql: db.pool } as unknown as ProjectorDeps;
    await projection.prepare(deps, liveTarget(projection));
    assert.equal(await projection.checkpoint(deps, liveTarget(projection)), positions[3]);
  });

  it("the jobs' index reads only the events after its old checkpoint", async () => {
    await ensureJobTables(db.pool);
    assert.equal(await catchUpIndex(db.pool, store), 2);
    assert.equal(await readCheckpoint(db.pool, INDEX_CHECKPOINT), positions[9]);
  });
});
