// The single-instance loop on real MariaDB: one term at a time across
// instances, a term ended and the lock taken again when the lock's connection
// dies (what a MariaDB restart does to it), one log line per outage, and a
// failing term retried without keeping the lock from others meanwhile.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { outage } from '../health/index.ts';
import { DATABASE_SCOPED_NAME_SQL } from '../locks/index.ts';
import { createLogger } from '../logger/index.ts';
import { runSingleInstance, type RunningInstance, type Term } from './index.ts';

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger({ logLevel: 'info' }, { stream }) };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('runSingleInstance', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase('single_instance');
  });
  after(async () => {
    await db.drop();
  });

  /** An instance whose terms are recorded: when each starts and ends, and why it ended. */
  function instance(name: string, lockName: string, onTerm?: (t: Term) => Promise<void>) {
    const { lines, logger } = capturingLogger();
    const terms: { ended?: string | undefined; done: boolean }[] = [];
    let current: Term | undefined;
    const running: RunningInstance = runSingleInstance({
      mysql: db.pool,
      lock: { nameSql: DATABASE_SCOPED_NAME_SQL, params: [lockName] },
      lockWaitSeconds: 0,
      standbyRetryMs: 50,
      lockOutage: outage(logger, name, 'mysql'),
      termOutage: outage(logger, name, 'its term'),
      async term(t) {
        const record: (typeof terms)[number] = { done: false };
        terms.push(record);
        current = t;
        try {
          if (onTerm) await onTerm(t);
          record.ended = await t.ended;
        } finally {
          record.done = true;
          current = undefined;
        }
        return undefined;
      },
    });
    return {
      lines,
      terms,
      running,
      get current() {
        return current;
      },
      activeTerms: () => terms.filter((t) => !t.done).length,
    };
  }

  it('runs one term at a time among instances, and a standby takes over on close', async () => {
    const a = instance('a', 'one-at-a-time');
    const b = instance('b', 'one-at-a-time');
    try {
      await until(() => a.activeTerms() + b.activeTerms() === 1, 'one active term');
      await sleep(300); // several standby retries
      assert.equal(a.activeTerms() + b.activeTerms(), 1);
      const [leader, standby] = a.activeTerms() === 1 ? [a, b] : [b, a];
      await leader.running.close();
      assert.equal(leader.terms.at(-1)?.ended, undefined, 'a closed term ends without a reason');
      await until(() => standby.activeTerms() === 1, 'the standby to take over');
    } finally {
      await a.running.close();
      await b.running.close();
    }
  });

  it('ends the term when the lock connection dies, logs it once, and takes the lock again', async () => {
    const a = instance('a', 'killed-lock');
    try {
      await until(() => a.activeTerms() === 1, 'the first term');
      const [rows] = await db.pool.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
      const own = Number(rows[0]!.id);
      const lockConn = a.current!.lock.conn.threadId;
      assert.ok(lockConn !== null && lockConn !== own);
      await db.pool.query('KILL CONNECTION ?', [lockConn]);
      await until(() => a.terms.length === 2 && a.activeTerms() === 1, 'a second term');
      assert.match(String(a.terms[0]!.ended), /lock connection/);
      assert.ok(a.current!.lock.held);
      await until(() => a.lines.some((l) => l.includes('a recovered mysql')), 'the recovery line');
      assert.equal(a.lines.filter((l) => l.includes('a lost mysql')).length, 1, a.lines.join('\n'));
    } finally {
      await a.running.close();
    }
  });

  it('retries a failing term with backoff, not keeping the lock from a standby meanwhile', async () => {
    let failing = true;
    const a = instance('a', 'failing-term', async () => {
      if (failing) throw new Error('cannot start');
    });
    await until(() => a.terms.length >= 2, 'a failed term tried again');
    assert.equal(
      a.lines.filter((l) => l.includes('a lost its term')).length,
      1,
      a.lines.join('\n'),
    );
    const b = instance('b', 'failing-term');
    try {
      await until(() => b.activeTerms() === 1, 'the standby to take the lock between two tries');
      failing = false;
      await b.running.close();
      await until(() => a.activeTerms() === 1, 'a term of the first instance that starts');
      const [rows] = await db.pool.query<RowDataPacket[]>(
        `SELECT IS_USED_LOCK(${DATABASE_SCOPED_NAME_SQL}) AS holder`,
        ['failing-term'],
      );
      assert.equal(Number(rows[0]!.holder), a.current!.lock.conn.threadId);
    } finally {
      await a.running.close();
      await b.running.close();
    }
    const [rows] = await db.pool.query<RowDataPacket[]>(
      `SELECT IS_USED_LOCK(${DATABASE_SCOPED_NAME_SQL}) AS holder`,
      ['failing-term'],
    );
    assert.equal(rows[0]!.holder, null, 'close() releases the lock');
  });
});
