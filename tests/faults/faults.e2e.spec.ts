// Faults with the whole system running as `npm start` runs it (the real CLI
// and its supervised children), on a private stack of its own
// (tests/faults/system.ts), with messages flowing through the command API
// and the simulator in the background the whole time. Each test restarts one
// dependency or SIGKILLs one process. After each: every message accepted so
// far reached a final state, the simulator received each exactly once, the
// event store holds each accepted message once and nothing else (nothing
// half-written), no receipt is left parked, the read models equal a clean
// rebuild, and readiness said "not ready" during the fault and "ready" after.
// While the fault runs the APIs answer 2xx or 503 DEPENDENCY_UNAVAILABLE
// with Retry-After, never a 500 (the sends, and reads of a MySQL read model,
// a Mongo one and the command side); and each component that lost a
// dependency logged one line then and one when it had it back, with the
// outage's length, not one per retry.
//
// Each outage lasts until the test has seen what it checks (readiness going
// down, the pipeline naming the part that lost its dependency), with a floor,
// and every wait polls for its condition: nothing here depends on how fast
// the machine is, only the run time does.
//
// The clean rebuild it compares with is one build of every projection, made
// by replaying the event store after the first test and carried on after
// each later one from where it stopped (replay applies events in order
// whatever the page boundaries), so a test pays for the events of its own
// messages only; it is extended once the live projections caught up, not
// while they do. MySQL builds are tables of their own beside the live ones,
// compared whole each time; Mongo builds are in databases of their own (on
// FerretDB each database is one SQLite file with one writer), compared on the
// documents an event since the previous comparison wrote, and the number of
// documents.
//
// STREAMING_FAULT_MESSAGES: messages over the whole suite (default 2,000,
// spread over the tests, about 180 each, sent before, during and after each
// fault); STREAMING_FAULT_RATE:
// sends per second before and after each fault (default 40; an eighth of it
// while the fault runs, so a long outage does not pile up messages that
// every later check must read). It runs in `npm test` (the *.spec.ts glob);
// `npm run test:faults` runs it alone. Most of a test's time is the system's
// own recovery and catch-up, and the Mongo side of the comparison (the
// replay on FerretDB), both bound by the CPU on a loaded 2-core machine.
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { after, before, describe, it } from 'node:test';
import {
  buildTarget,
  projections,
  rebuildProjection,
  type Projection,
  type ProjectorDeps,
} from '../../projectors/index.ts';
import { dropReadModelDatabases } from '../../platform/readModels/index.ts';
import { snapshot } from '../read/snapshot.ts';
import {
  call,
  eventually,
  readLogs,
  urls,
  ReadinessWatch,
  Sender,
  System,
  waitHealthy,
  type ApiProbe,
  type LogReport,
  type Reply,
  type SendWindow,
} from './system.ts';

const TOTAL = Number(process.env.STREAMING_FAULT_MESSAGES ?? 2_000);
const RATE = Number(process.env.STREAMING_FAULT_RATE ?? 40);
/** The long-running children of `npm start` (the simulator stands for the vendors). */
const CHILDREN = ['command', 'query', 'grpc', 'processors', 'callbacks', 'projectors'] as const;
const TESTS = 5 + CHILDREN.length;
/** Each test goes on sending until it accepted its share (after the recovery too). */
const PER_TEST = Math.ceil(TOTAL / TESTS);

describe('faults, with the whole system running', { timeout: 1_800_000 }, () => {
  let system: System;
  let sender: Sender;
  const t0 = Date.now();
  before(async () => {
    system = await System.start();
    sender = new Sender(system, RATE);
    console.log(`# system up in ${Date.now() - t0} ms`);
  });
  after(async () => {
    await sender?.pause();
    if (system) await discardBuild(CLEAN).catch(() => undefined);
    if (process.exitCode && system) console.error(system.output.slice(-8_000));
    await system?.stop();
    console.log(`# ${sender?.accepted.length ?? 0} messages in ${Date.now() - t0} ms`);
  });

  /** What the watch reads while a fault runs: a MySQL read model, a Mongo one, the command side. */
  let readableId: string | undefined;
  const apis = (): ApiProbe[] => [
    { name: 'query GET /v1/messages', url: () => `${urls.query}/v1/messages?limit=1` },
    {
      name: 'query GET /v1/messages/:id',
      // a message the history is known to hold: one accepted a moment ago may
      // not be projected yet, and its 404 would say nothing about the fault
      url: () => (readableId ? `${urls.query}/v1/messages/${readableId}` : undefined),
    },
    { name: 'command GET /v1/api-keys', url: () => `${urls.command}/v1/api-keys` },
  ];

  /**
   * One line when a component loses a dependency and one when it has it back
   * (with the outage's length), not one per retry: per component and process,
   * the lines alternate lost/recovered and end recovered, and no line of ours
   * repeats more than a few times in a test. `dependency`: some component
   * said it lost it. `once`: each component lost it once only (one outage).
   */
  function checkLogs(report: LogReport, options: { dependency?: RegExp; once?: boolean } = {}) {
    for (const { key, lines } of report.outages) {
      // a recovery of an outage that began before this test
      const own = lines[0]?.kind === 'recovered' ? lines.slice(1) : lines;
      if (own.length === 0) continue;
      own.forEach((l, i) =>
        assert.equal(l.kind, i % 2 === 0 ? 'lost' : 'recovered', `${key}: ${JSON.stringify(own)}`),
      );
      assert.equal(own.at(-1)!.kind, 'recovered', `${key} logged its recovery`);
      const losses = own.filter((l) => l.kind === 'lost').length;
      assert.ok(losses <= (options.once ? 1 : 2), `${key}: ${losses} outage lines`);
    }
    for (const [line, n] of report.repeated) assert.ok(n <= 6, `logged ${n} times: ${line}`);
    if (options.dependency) {
      const lost = report.outages.filter(
        (o) => options.dependency!.test(o.key) && o.lines.some((l) => l.kind === 'lost'),
      );
      assert.ok(lost.length > 0, `a component logged that it lost ${options.dependency}`);
    }
    assert.deepEqual(
      report.messages.filter((m) => m.startsWith('parked receipt never matched')),
      [],
      'no parked receipt given up',
    );
  }

  /** Sends while `fault` runs, until the system is healthy again and the test's share is accepted; then checks every property. */
  async function under(
    label: string,
    fault: (watch: ReadinessWatch, sent: SendWindow) => Promise<void>,
    expect: (watch: ReadinessWatch, sent: SendWindow, logs: LogReport) => void,
  ): Promise<void> {
    const started = Date.now();
    await waitHealthy();
    const logFrom = system.output.length;
    const watch = new ReadinessWatch(system.auth(), apis());
    const win = sender.window();
    let f0: number;
    let f1: number;
    let healthy: number;
    let sent1: number;
    try {
      sender.ratePerSecond = RATE;
      sender.resume();
      await eventually('sends flowing', async () => (win.accepted >= 10 ? true : undefined));
      if (!readableId) {
        const first = sender.accepted[0]!;
        await eventually('the first message in the history', async () =>
          (await call(`${urls.query}/v1/messages/${first}`, 'GET', undefined, system.auth()))
            .status === 200
            ? true
            : undefined,
        );
        readableId = first;
      }
      f0 = Date.now();
      sender.ratePerSecond = Math.max(1, RATE / 8);
      await fault(watch, win);
      f1 = Date.now();
      await waitHealthy();
      healthy = Date.now();
      sender.ratePerSecond = RATE;
      const atRecovery = win.accepted;
      await eventually(
        'sends accepted after the recovery',
        async () => (win.accepted >= Math.max(atRecovery + 10, PER_TEST) ? true : undefined),
        600_000,
      );
      sent1 = Date.now();
    } finally {
      // a failed test stops its sends too: the next test starts from a quiet system
      await sender.pause();
      await watch.stop();
      win.close();
    }
    assert.deepEqual(win.unexpected, [], 'every send answered 202, or 503 with Retry-After');
    assert.deepEqual(
      watch.badAnswers,
      [],
      'every read answered 2xx, or 503 DEPENDENCY_UNAVAILABLE with Retry-After',
    );

    // every accepted message final, and received exactly once
    const ids = [...sender.accepted];
    await system.waitFinal(ids);
    const final = Date.now();
    assert.equal(new Set(ids).size, ids.length, 'each send accepted once');
    const received = await system.received();
    const notOnce = ids.filter((id) => received[id] !== 1);
    assert.deepEqual(
      notOnce.map((id) => [id, received[id] ?? 0]),
      [],
      'the simulator received each message exactly once',
    );
    // nothing half-written: the store and the history hold exactly the accepted messages
    const stored = await system.acceptedInStore();
    assert.deepEqual(
      [...stored].filter(([id, n]) => n !== 1 || !received[id]),
      [],
      'each message in the event store accepted once, and sent',
    );
    assert.equal(stored.size, ids.length, 'the event store holds the accepted messages only');
    const [rows] = await system.rt.mysql.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM message_history',
    );
    assert.equal(Number(rows[0]!.n), ids.length, 'the history holds the accepted messages only');
    // a receipt that came before its message was known waited parked, and was applied
    await eventually(
      'no receipt left parked',
      async () => {
        const [parked] = await system.rt.mysql.query<RowDataPacket[]>(
          'SELECT COUNT(*) AS n FROM parked_receipts',
        );
        return Number(parked[0]!.n) === 0 ? true : undefined;
      },
      120_000,
    );
    const r0 = Date.now();
    await sameAsCleanRebuild();
    // by now every component that lost a dependency had it back long since
    const logs = readLogs(system.output.slice(logFrom));
    expect(watch, win, logs);
    console.log(
      `# ${label}: ${win.accepted} sent (${JSON.stringify(win.statuses)}, ${win.networkErrors} cut), ` +
        `fault ${f1 - f0} ms, healthy +${healthy - f1} ms, all final +${final - healthy} ms, ` +
        `rebuild compared in ${Date.now() - r0} ms (${rebuildLog.join(', ')}), ` +
        `answers ${JSON.stringify(Object.fromEntries(watch.answers))}, ` +
        `outage lines ${logs.outages.map((o) => `${o.key} ${o.lines.map((l) => (l.kind === 'lost' ? 'L' : `R${l.outageMs}/${l.attempts}`)).join('')}`).join('; ')}, ` +
        `sends after the recovery ${sent1 - healthy} ms, test ${Date.now() - started} ms`,
    );
  }

  let rebuildLog: string[] = [];
  /** The clean build carried on after each test (see the top of the file). */
  const CLEAN = `faults${Date.now().toString(36)}`;
  /**
   * Where the clean build lives: MySQL beside the live tables (suffix
   * __b<id>), Mongo in databases of its own, so that on FerretDB (one SQLite
   * file, one writer, per database) building it does not wait on the live
   * projections' writes nor they on it.
   */
  let cleanDeps: ProjectorDeps | undefined;
  const clean = (): ProjectorDeps => {
    if (!cleanDeps) {
      const { mongo } = system.rt;
      const db = mongo.client.db(`${mongo.db.databaseName}_clean`);
      cleanDeps = { ...system.rt, mongo: { client: mongo.client, db } };
    }
    return cleanDeps;
  };

  /** Replays into build `buildId` every event after what it holds, every projection at once. */
  async function extendBuild(buildId: string): Promise<void> {
    const deps = clean();
    // their stores (MySQL, FerretDB, Redis) work in parallel
    const built = await Promise.all(
      projections.map(async (p) => {
        const from = await p.checkpoint(deps, buildTarget(p, buildId)).catch(() => 0);
        return rebuildProjection(deps, p, { from, swap: false, buildId });
      }),
    );
    rebuildLog.push(
      ...built
        .filter((r) => r.events > 0)
        .map((r) => `${r.projection} +${r.events} in ${Math.round(r.ms)} ms`),
    );
  }

  async function discardBuild(buildId: string): Promise<void> {
    for (const p of projections as Projection[])
      if (p.store !== 'mongo') await p.discard(clean(), buildTarget(p, buildId));
    await dropReadModelDatabases(clean().mongo.db);
  }

  /** The head of the last comparison: Mongo documents no event since then wrote were compared already. */
  let comparedUpTo = 0;

  async function sameAsCleanRebuild(buildId = CLEAN): Promise<void> {
    rebuildLog = [];
    const deps = system.rt;
    for (let attempt = 0; ; attempt++) {
      const head = await deps.eventStore.headPosition();
      // the live projections first (after a fault they catch up), then the build: not both at once
      await waitCaughtUp(head);
      await extendBuild(buildId);
      // MySQL whole; Mongo (the slow store here) what changed since the last test, and the counts
      const mongoSince = comparedUpTo;
      const [live, built] = await Promise.all([
        snapshot(deps, '', { mongoSince }),
        snapshot(clean(), `__b${buildId}`, { mongoSince }),
      ]);
      // an event appended meanwhile (a late receipt, a status pull): compare again
      const now = await deps.eventStore.headPosition();
      if (now !== head && attempt < 5) {
        const [moved] = await deps.mysql.query<RowDataPacket[]>(
          'SELECT type, COUNT(*) AS n FROM es_events WHERE position > ? AND position <= ? GROUP BY type',
          [head, now],
        );
        rebuildLog.push(`again after ${JSON.stringify(moved.map((r) => [r.type, Number(r.n)]))}`);
        continue;
      }
      assert.deepEqual(live.mysql, built.mysql, 'MySQL read models equal a clean rebuild');
      assert.deepEqual(live.mongo, built.mongo, 'Mongo read models equal a clean rebuild');
      assert.deepEqual(
        live.mongoCounts,
        built.mongoCounts,
        'as many Mongo documents as the rebuild',
      );
      comparedUpTo = head;
      return;
    }
  }

  async function waitCaughtUp(head: number): Promise<void> {
    await eventually(
      `every projection at ${head}`,
      async () => {
        const positions = await Promise.all(
          projections.map((p) =>
            p.checkpoint(system.rt, { suffix: '', checkpoint: `${p.name}@${p.version}` }),
          ),
        );
        return positions.every((p) => p >= head) ? true : undefined;
      },
      180_000,
    );
  }

  interface PipelinePart {
    name: string;
    pid?: number;
    state: string;
    error?: string;
  }
  const pipelineParts = async (): Promise<PipelinePart[]> =>
    ((await call(`${urls.command}/healthz/pipeline`)).json.parts ?? []) as PipelinePart[];

  const bothNotReady = (watch: ReadinessWatch) => () =>
    watch.seen.command.has('not-ready') && watch.seen.query.has('not-ready');

  it('restart MariaDB', async () => {
    await under(
      'mariadb',
      (watch) =>
        system.outage(
          'mariadb',
          1_000,
          bothNotReady(watch),
          'both /readyz not ready without MariaDB',
        ),
      (watch, _sent, logs) => {
        assert.ok(watch.seen.command.has('not-ready'), 'command /readyz went not-ready');
        assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
        assert.ok(watch.seen.command.has('ready') && watch.seen.query.has('ready'));
        checkLogs(logs, { dependency: /mysql|event store/ });
      },
    );
  });

  it('restart Redis', async () => {
    let login: Reply | undefined;
    await under(
      'redis',
      (watch) =>
        system.outage(
          'redis',
          1_000,
          async () => {
            if (!bothNotReady(watch)()) return false;
            login = await system.login(); // Redis is down until this returns
            return true;
          },
          'both /readyz not ready without Redis',
        ),
      (watch, _sent, logs) => {
        assert.ok(watch.seen.command.has('not-ready'), 'command /readyz went not-ready');
        assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
        assert.equal(login?.status, 503, `login without Redis: ${JSON.stringify(login?.json)}`);
        assert.equal(login?.json.code, 'DEPENDENCY_UNAVAILABLE');
        assert.ok(login?.retryAfter, 'with Retry-After');
        const refused = [...watch.answers.values()].some((a) => (a[503] ?? 0) > 0);
        assert.ok(refused, 'the APIs answered 503 while Redis was down');
        checkLogs(logs, { dependency: /redis/ });
      },
    );
  });

  it('restart Kafka', async () => {
    let restarted: Promise<void> | undefined;
    let accepting = false;
    await under(
      'kafka',
      (watch, sent) =>
        system.outage(
          'kafka',
          1_000,
          async () => {
            // the command service starts and accepts while Kafka is down: killed as soon as
            // Kafka is, while the pipeline comes to name the parts that lost it
            restarted ??= (async () => {
              const killed = system.childPid('command')!;
              process.kill(killed, 'SIGKILL');
              await eventually('command restarted', async () =>
                (system.childPid('command') ?? killed) !== killed ? true : undefined,
              );
              await system.waitReady();
              const before = sent.accepted;
              await eventually('sends accepted by the restarted command service', async () =>
                sent.accepted >= before + 5 ? true : undefined,
              );
              accepting = true;
            })();
            await restarted;
            return accepting && watch.erroredParts.size > 0;
          },
          'the pipeline naming the parts that lost Kafka',
        ),
      (watch, sent, logs) => {
        checkLogs(logs, { dependency: /kafka/i });
        // accepting needs no Kafka: the command API kept answering 202, also once restarted
        assert.equal(sent.statuses[503] ?? 0, 0, 'no send refused while Kafka was down');
        // the APIs stay ready (they do not need Kafka); the pipeline names what lacks it
        assert.ok(watch.erroredParts.size > 0, 'the pipeline reported the parts that lost Kafka');
        assert.ok(watch.seen.pipeline.has('ok'));
      },
    );
  });

  it('restart FerretDB (stop, wait 5 s, start)', async () => {
    await under(
      'ferretdb',
      (watch) =>
        system.outage(
          'ferretdb',
          5_000,
          () => watch.seen.query.has('not-ready'),
          'query /readyz not ready without FerretDB',
        ),
      (watch, _sent, logs) => {
        assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
        checkLogs(logs, { dependency: /mongo/ });
      },
    );
  });

  for (const child of CHILDREN) {
    it(`SIGKILL the ${child} process`, async () => {
      let killed = 0;
      await under(
        `kill-${child}`,
        async (watch) => {
          killed = system.childPid(child) ?? 0;
          assert.ok(killed > 0, `the supervisor named the pid of ${child}`);
          const theirs = (await pipelineParts()).filter((p) => p.pid === killed).map((p) => p.name);
          process.kill(killed, 'SIGKILL');
          // the supervisor restarts it
          await eventually(`${child} restarted`, async () =>
            (system.childPid(child) ?? killed) !== killed ? true : undefined,
          );
          if (child === 'command' || child === 'query' || child === 'grpc') {
            // its API goes away (gRPC has no parts in the pipeline: its port is the probe)
            await eventually(`${child} not answering`, async () =>
              watch.seen[child].has('not-ready') ? true : undefined,
            );
          } else {
            // its parts stop reporting: the pipeline says they stalled, naming the pid
            await eventually(`the parts of ${child} reported stalled`, async () =>
              [...watch.erroredParts.values()].some((e) => e.includes(`pid ${killed}`))
                ? true
                : undefined,
            );
          }
          await system.waitReady();
          // every part the killed process ran is reported again, by a live process, unhindered
          let last: PipelinePart[] = [];
          try {
            await eventually(
              `the parts of ${child} running again`,
              async () => {
                last = await pipelineParts();
                const back = theirs.every((name) =>
                  last.some(
                    (p) => p.name === name && p.pid !== killed && p.state !== 'stalled' && !p.error,
                  ),
                );
                return back ? true : undefined;
              },
              180_000,
            );
          } catch (err) {
            throw new Error(
              `${(err as Error).message}: had ${JSON.stringify(theirs)}, now ${JSON.stringify(last)}`,
              { cause: err },
            );
          }
        },
        (watch, _sent, logs) => {
          checkLogs(logs);
          if (child === 'command' || child === 'query' || child === 'grpc') {
            assert.ok(watch.seen[child].has('not-ready'), `${child} went away`);
            assert.ok(watch.seen[child].has('ready'), `${child} answered again`);
          } else {
            assert.ok(watch.seen.pipeline.has('stalled'), '/healthz/pipeline saw its parts stall');
          }
        },
      );
      assert.notEqual(system.childPid(child), killed);
    });
  }

  it('stop MariaDB for 30 s while sends keep arriving', async () => {
    let login: Reply | undefined;
    await under(
      'mariadb-30s',
      (watch) =>
        system.outage(
          'mariadb',
          30_000,
          async () => {
            if (!bothNotReady(watch)()) return false;
            login ??= await system.login(); // the event store cannot answer
            return true;
          },
          'both /readyz not ready without MariaDB',
        ),
      (watch, sent, logs) => {
        // the event store not answering is an outage, not a failed login
        assert.equal(login?.status, 503, `login without MariaDB: ${JSON.stringify(login?.json)}`);
        assert.equal(login?.json.code, 'DEPENDENCY_UNAVAILABLE');
        assert.ok(login?.retryAfter, 'with Retry-After');
        const refused = [...watch.answers.values()].some((a) => (a[503] ?? 0) > 0);
        assert.ok(refused, 'the APIs answered 503 while MariaDB was down');
        // 30 s of retries, one outage: one line each when lost and when back
        checkLogs(logs, { dependency: /mysql|event store/, once: true });
        const retried = logs.outages.some((o) => o.lines.some((l) => (l.attempts ?? 0) >= 3));
        assert.ok(retried, 'components retried many times, and logged the outage once');
        assert.ok((sent.statuses[503] ?? 0) > 0, 'the API answered 503 during the outage');
        assert.deepEqual(
          Object.keys(sent.statuses).filter((s) => s !== '503'),
          [],
          'nothing but 503 while it was down',
        );
        assert.ok(watch.seen.command.has('not-ready'), 'command /readyz went not-ready');
        assert.ok(watch.seen.query.has('not-ready'), 'query /readyz went not-ready');
      },
    );
  });
});
