// DRAFT, NOT YET PASSING, NOT IN `npm test` (issue #11 is open for it): its
// best run passed the four restarts; it never passed as a whole, takes ~14 min
// at 100 messages per test, and predates the template approval that sends now
// need (tests/support/approvals.ts). Run it alone: `npm run test:faults`.
//
// Faults with the whole system running as `npm start` runs it, on a private
// stack (tests/faults/system.ts): each test sends messages through the
// command API and the simulator while one dependency restarts or one process
// is SIGKILLed. After each: every accepted message reaches a final state, the
// simulator received each exactly once, the read models equal a clean
// rebuild, and readiness said "not ready" during the fault and "ready" after.
//
// STREAMING_FAULT_MESSAGES sets the messages per test (default 200: the suite
// fits in a few minutes on a shared 2-core machine; the properties do not
// depend on the number).
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { after, before, describe, it } from 'node:test';
import type { ServiceName } from '../../stack/index.ts';
import { projections, replayCommand } from '../../projectors/index.ts';
import { snapshot } from '../read/snapshot.ts';
import { ReadinessWatch, System, sleep, waitHealthy, type SendResult } from './system.ts';

const MESSAGES = Number(process.env.STREAMING_FAULT_MESSAGES ?? 200);

describe('faults, with the whole system running', { timeout: 900_000 }, () => {
  let system: System;
  const accepted = new Set<string>();
  before(async () => {
    system = await System.start();
  });
  after(async () => {
    if (process.exitCode && system) console.error(system.output.slice(-5_000));
    await system?.stop();
  });

  /** Sends while `fault` runs (it starts once a quarter is accepted), then checks every property. */
  async function under(
    label: string,
    fault: () => Promise<void>,
    expect: (watch: ReadinessWatch, sent: SendResult) => void,
  ): Promise<void> {
    await waitHealthy();
    const watch = new ReadinessWatch();
    const sending = system.send(MESSAGES, `${label}-${Date.now()}`);
    await sleep(1_000);
    const t0 = Date.now();
    await fault();
    const t1 = Date.now();
    const sent = await sending;
    for (const id of sent.ids) accepted.add(id);
    const t2 = Date.now();
    await system.waitFinal(sent.ids);
    const t3 = Date.now();
    await waitHealthy();
    await watch.stop();
    console.log(
      `# ${label}: fault ${t1 - t0} ms, sends done +${t2 - t1} ms, all final +${t3 - t2} ms, healthy +${Date.now() - t3} ms`,
    );

    // every accepted message final (waitFinal), and received exactly once
    assert.equal(new Set(sent.ids).size, MESSAGES, 'each send accepted once');
    const received = await system.received();
    const notOnce = sent.ids.filter((id) => received[id] !== 1);
    assert.deepEqual(
      notOnce.map((id) => [id, received[id] ?? 0]),
      [],
      'the simulator received each message exactly once',
    );
    expect(watch, sent);
    // nothing half-written: the history holds exactly the messages accepted so far
    const [rows] = await system.rt.mysql.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM message_history',
    );
    assert.equal(Number(rows[0]!.n), accepted.size, 'no message beyond those accepted');
    await sameAsCleanRebuild();
  }

  async function sameAsCleanRebuild(): Promise<void> {
    const deps = system.rt;
    for (let attempt = 0; ; attempt++) {
      const head = await deps.eventStore.headPosition();
      await waitCaughtUp(head);
      const live = await snapshot(deps);
      const buildId = `clean${attempt}`;
      await replayCommand(deps, { projection: 'all', swap: false, buildId });
      const clean = await snapshot(deps, `__b${buildId}`);
      for (const p of projections) {
        await p.discard(deps, {
          suffix: `__b${buildId}`,
          checkpoint: `${p.name}@${p.version}#${buildId}`,
        });
      }
      // an event appended meanwhile (a late receipt): compare again
      if ((await deps.eventStore.headPosition()) !== head && attempt < 3) continue;
      assert.deepEqual(live.mysql, clean.mysql, 'MySQL read models equal a clean rebuild');
      assert.deepEqual(live.mongo, clean.mongo, 'Mongo read models equal a clean rebuild');
      return;
    }
  }

  async function waitCaughtUp(head: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const positions = await Promise.all(
        projections.map((p) =>
          p.checkpoint(system.rt, { suffix: '', checkpoint: `${p.name}@${p.version}` }),
        ),
      );
      if (positions.every((p) => p >= head)) return;
      if (Date.now() > deadline)
        throw new Error(`projections not caught up to ${head}: ${positions.join(',')}`);
      await sleep(250);
    }
  }

  const restart = (service: ServiceName, downMs: number) => () =>
    system.restartService(service, downMs);

  it('restart MariaDB', async () => {
    await under('mariadb', restart('mariadb', 1_000), (watch) => {
      assert.ok(watch.seen.command.has('not-ready'), 'command /readyz went not-ready');
      assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
    });
  });

  it('restart Redis', async () => {
    await under('redis', restart('redis', 1_000), (watch) => {
      assert.ok(watch.seen.command.has('not-ready'), 'command /readyz went not-ready');
      assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
    });
  });

  it('restart Kafka', async () => {
    await under('kafka', restart('kafka', 1_000), (watch, sent) => {
      // accepting needs no Kafka: the command API kept answering 202
      assert.equal(sent.statuses[503] ?? 0, 0, 'no send refused while Kafka was down');
      // readiness of the APIs stays (they do not need Kafka); the pipeline names what lacks it
      assert.ok(watch.erroredParts.size > 0, 'the pipeline reported the parts that lost Kafka');
    });
  });

  it('restart FerretDB (stop, wait 5 s, start)', async () => {
    await under('ferretdb', restart('ferretdb', 5_000), (watch) => {
      assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
    });
  });

  for (const child of ['command', 'query', 'processors', 'projectors']) {
    it(`SIGKILL the ${child} process`, async () => {
      await under(
        `kill-${child}`,
        async () => {
          const pid = system.childPid(child);
          process.kill(pid, 'SIGKILL');
          // the supervisor restarts it
          await sleep(1_000);
          await system.waitReady();
        },
        (watch, sent) => {
          if (child === 'command') {
            assert.ok(watch.seen.command.has('not-ready'), 'command /readyz went away');
            assert.ok(sent.networkErrors + (sent.statuses[503] ?? 0) >= 0);
          } else if (child === 'query') {
            assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went away');
          } else {
            assert.ok(watch.seen.pipeline.has('stalled'), '/healthz/pipeline saw its parts stall');
          }
        },
      );
      assert.notEqual(system.childPid(child), undefined);
    });
  }

  it('stop MariaDB for 30 s while sends keep arriving', async () => {
    await under('mariadb-30s', restart('mariadb', 30_000), (watch, sent) => {
      assert.ok((sent.statuses[503] ?? 0) > 0, 'the API answered 503 during the outage');
      assert.deepEqual(
        Object.keys(sent.statuses).filter((s) => s !== '503'),
        [],
        'nothing but 503 while it was down',
      );
      assert.ok(watch.seen.command.has('not-ready'), 'command /readyz went not-ready');
      assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
    });
  });
});
