// Must hold: a replay from zero gives read models identical to the live ones;
// every event delivered twice changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import {
  buildTarget,
  liveCollection,
  projectionNamed,
  projections,
  projectionsStatus,
  replayCommand,
  startProjectors,
} from '../../projectors/index.ts';
import {
  readModelDb,
  serverUsesIndexes,
  timelineCollections,
} from '../../platform/readModels/index.ts';
import { appendWorkload, readSide, type ReadSide, type Workload } from '../../testing/readSide.ts';
import { readersView, snapshot } from './snapshot.ts';

describe('projections', () => {
  let side: ReadSide;
  let workload: Workload;

  before(async () => {
    side = await readSide('proj');
  });
  after(async () => {
    await side.drop();
  });

  it('build the read models live from a mixed workload', async () => {
    const running = startProjectors(side.deps, { maxBatch: 50, maxWaitMs: 10 });
    try {
      workload = await appendWorkload(side.deps.eventStore, { tenants: 2, messages: 16 });
      assert.equal(await running.waitFor(workload.lastPosition, 20_000), true);
    } finally {
      await running.close();
    }
    const live = await snapshot(side.deps);
    const history = live.mysql.message_history!;
    assert.equal(history.length, workload.messages.length);
    const byStatus = new Map<string, number>();
    for (const row of history) byStatus.set(row.status, (byStatus.get(row.status) ?? 0) + 1);
    for (const status of ['accepted', 'submitted', 'delivered', 'undelivered', 'failed']) {
      assert.ok((byStatus.get(status) ?? 0) > 0, `some message is ${status}`);
    }
    // a receipt that came before the submission keeps the message delivered
    assert.ok(history.every((r) => r.status !== 'uncertain' || r.supplier_account));
    // verification codes stay masked; the sealed text is nowhere
    const audit = JSON.stringify(live.mongo.audit_log);
    assert.ok(!audit.includes('sealed:abcdef'));
    assert.ok(!audit.includes('scrypt$secret'));
    assert.ok(!audit.includes('hmac:deadbeef'));
    assert.equal(live.mongo.audit_log!.length, workload.lastPosition);
    // every audit record has its tenant, through its stream
    const docs = live.mongo.audit_log as { type: string; tenantId: string | null }[];
    for (const doc of docs) {
      if (doc.type.startsWith('sms.') || doc.type.startsWith('verification.')) {
        assert.ok(doc.tenantId && workload.tenants.includes(doc.tenantId), doc.type);
      }
    }
    assert.equal(live.mysql.templates!.length, workload.templates.length);
    assert.equal(live.mysql.users!.length, 2);
    assert.equal(
      live.mysql.inbound_messages!.filter((r) => r.opt_out_keyword === 'STOP').length,
      2,
    );
    assert.equal(live.mongo.message_timelines!.length, workload.messages.length);
    // one timeline per message: in the open collection while in flight, in the final one after
    const db = readModelDb(side.deps.mongo.db, 'message_timelines');
    const [openName, finalName] = timelineCollections(
      await liveCollection(side.deps.mongo.db, 'message_timelines'),
    );
    const inFinal = await db.collection<{ status: string }>(finalName).find({}).toArray();
    const finalIds = new Set(inFinal.map((d) => String(d._id)));
    // open: one document per version while in flight; those of final messages await a bulk delete
    const inOpen = readersView(await db.collection(openName).find({}).toArray()).filter(
      (d) => !finalIds.has(String(d._id)),
    );
    assert.equal(inOpen.length + inFinal.length, workload.messages.length);
    assert.ok(inOpen.length > 0 && inFinal.length > 0);
    assert.ok(inOpen.every((d) => !['delivered', 'undelivered', 'failed'].includes(d.status)));
    assert.ok(inFinal.every((d) => ['delivered', 'undelivered', 'failed'].includes(d.status)));
    // FerretDB 1.x uses no secondary index in a query: none is built there, costing inserts
    const ferret = /^v?1\./.test(
      String((await db.admin().command({ buildInfo: 1 })).ferretdbVersion ?? ''),
    );
    assert.equal(await serverUsesIndexes(db), !ferret);
    const indexNames = (await db.collection(finalName).listIndexes().toArray()).map((i) =>
      String(i.name),
    );
    assert.equal(indexNames.includes('ix_tenant'), !ferret);
    // extension codes: set at create, changed, removed
    const codes = new Map(live.mysql.templates!.map((r) => [r.template_code, r.extend_code]));
    assert.equal(codes.get(workload.templates[0]!.code), '77');
    assert.equal(codes.get(workload.templates[1]!.code), null);
    assert.equal(codes.get(workload.templates[2]!.code), null);
    const status = await projectionsStatus(side.deps);
    assert.equal(status.length, projections.length);
    for (const s of status) assert.equal(s.lag, 0, s.projection);
  });

  it('a replay from zero gives read models identical to the live ones', async () => {
    const live = await snapshot(side.deps);
    const results = await replayCommand(side.deps, { projection: 'all', pageSize: 40 });
    assert.equal(results.length, projections.length);
    for (const r of results) assert.equal(r.position, workload.lastPosition);
    const rebuilt = await snapshot(side.deps);
    for (const [table, rows] of Object.entries(live.mysql)) {
      assert.equal(rebuilt.mysql[table]!.length, rows.length, table);
      rows.forEach((row, i) =>
        assert.deepEqual(rebuilt.mysql[table]![i], row, `${table} row ${i}`),
      );
    }
    for (const [name, docs] of Object.entries(live.mongo)) {
      assert.equal(rebuilt.mongo[name]!.length, docs.length, name);
      docs.forEach((doc, i) => assert.deepEqual(rebuilt.mongo[name]![i], doc, `${name} doc ${i}`));
    }
    // the live models were swapped, not duplicated: the next replay still finds one of each
    const status = await projectionsStatus(side.deps);
    for (const s of status) assert.equal(s.position, workload.lastPosition, s.projection);
  });

  it('every event delivered twice changes nothing', async () => {
    const events = await side.deps.eventStore.readAll({ after: 0, limit: 100_000 });
    for (const projection of projections) {
      const once = buildTarget(projection, 'once');
      const twice = buildTarget(projection, 'twice');
      await projection.prepare(side.deps, once);
      await projection.prepare(side.deps, twice);
      for (let i = 0; i < events.length; i += 25) {
        const batch = events.slice(i, i + 25);
        const upTo = batch[batch.length - 1]!.position;
        await projection.apply(side.deps, once, batch, upTo);
        // each event twice in the same batch (past the checkpoint: the rows' own guards)
        await projection.apply(
          side.deps,
          twice,
          batch.flatMap((e) => [e, e]),
          upTo,
        );
        // and the whole batch again (the checkpoint)
        await projection.apply(side.deps, twice, batch, upTo);
      }
      assert.equal(await projection.checkpoint(side.deps, twice), workload.lastPosition);
    }
    const a = await snapshot(side.deps, '__bonce');
    const b = await snapshot(side.deps, '__btwice');
    assert.deepEqual(b.mysql, a.mysql);
    assert.deepEqual(b.mongo, a.mongo);
    assert.equal(a.mysql.message_history!.length, workload.messages.length);
    for (const projection of projections) {
      await projection.discard(side.deps, buildTarget(projection, 'once'));
      await projection.discard(side.deps, buildTarget(projection, 'twice'));
    }
  });

  it('adds a column shipped later to a table made before it, keeping its rows', async () => {
    const templates = projectionNamed('templates')!;
    const target = buildTarget(templates, 'old');
    const table = 'templates__bold';
    await templates.prepare(side.deps, target);
    const events = await side.deps.eventStore.readAll({ after: 0, limit: 100_000 });
    const created = events.filter((e) => e.type === 'template.created.v1');
    await templates.apply(side.deps, target, created.slice(0, 1), created[0]!.position);
    // the table as it was before extension codes
    await side.deps.mysql.query(`ALTER TABLE \`${table}\` DROP COLUMN extend_code`);
    await templates.prepare(side.deps, target);
    await templates.prepare(side.deps, target); // twice: nothing to add the second time
    const [rows] = await side.deps.mysql.query<RowDataPacket[]>(`SELECT * FROM \`${table}\``);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.template_code, workload.templates[0]!.code);
    assert.equal(rows[0]!.extend_code, null);
    const rest = events.filter((e) => e.position > created[0]!.position);
    await templates.apply(side.deps, target, rest, workload.lastPosition);
    const [after] = await side.deps.mysql.query<RowDataPacket[]>(
      `SELECT extend_code FROM \`${table}\` WHERE template_code = ?`,
      [workload.templates[0]!.code],
    );
    assert.equal(after[0]!.extend_code, '77');
    await templates.discard(side.deps, target);
  });
});
