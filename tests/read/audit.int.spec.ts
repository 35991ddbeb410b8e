// The audit export and its verification: a clean export verifies; an
// edited, a removed, an inserted and a swapped line are each reported by line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { NewEvent } from '../../platform/eventStore/index.ts';
import { liveCollection } from '../../platform/readModels/index.ts';
import { startProjectors } from '../../projectors/index.ts';
import { auditExport, auditVerify, verifyAuditText } from '../../query-service/index.ts';
import { appendWorkload, readSide, type ReadSide, type Workload } from '../../testing/readSide.ts';

describe('audit export', () => {
  let side: ReadSide;
  let workload: Workload;
  let dir: string;

  before(async () => {
    side = await readSide('audit');
    dir = await mkdtemp(path.join(tmpdir(), 'audit-'));
    const running = startProjectors(side.deps, { only: ['audit_log'], maxWaitMs: 5 });
    workload = await appendWorkload(side.deps.eventStore, { tenants: 2, messages: 10 });
    assert.equal(await running.waitFor(workload.lastPosition, 20_000), true);
    await running.close();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await side.drop();
  });

  async function exported(format: 'ndjson' | 'csv', tenant = workload.tenants[1]!) {
    const out = path.join(dir, `export-${format}-${tenant}.${format}`);
    const result = await auditExport(side.deps, {
      tenant,
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-02T00:00:00.000Z',
      format,
      out,
    });
    return { out, result, lines: (await readFile(out, 'utf8')).trimEnd().split('\n') };
  }

  it('exports one tenant with a hash chain and a manifest that verify', async () => {
    const { out, result, lines } = await exported('ndjson');
    assert.ok(result.count > 10);
    assert.equal(lines.length, result.count + 1);
    const records = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.every((r) => r.tenantId === workload.tenants[1]));
    const positions = records.map((r) => r.position as number);
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
    );
    for (const field of [
      'eventId',
      'streamId',
      'version',
      'position',
      'type',
      'at',
      'actor',
      'payload',
      'hash',
    ]) {
      assert.ok(field in records[0]!, field);
    }
    const manifest = (JSON.parse(lines[lines.length - 1]!) as { manifest: Record<string, unknown> })
      .manifest;
    assert.equal(manifest.count, result.count);
    assert.equal(manifest.lastHash, records[records.length - 1]!.hash);
    assert.equal(manifest.firstPosition, positions[0]);
    assert.equal(manifest.lastPosition, positions[positions.length - 1]);
    const text = lines.join('\n');
    assert.ok(
      !text.includes('sealed:abcdef') &&
        !text.includes('sealed:params-secret') &&
        !text.includes('scrypt$secret') &&
        !text.includes('hmac:deadbeef'),
    );
    const verified = await auditVerify(out, side.config.audit.key);
    assert.deepEqual(verified.problems, []);
    assert.equal(verified.ok, true);
    // a time range narrower than the events gives fewer records, still a valid chain
    const narrow = path.join(dir, 'narrow.ndjson');
    const at = records[5]!.at as string;
    const part = await auditExport(side.deps, {
      tenant: workload.tenants[1]!,
      from: at,
      to: '2026-03-02T00:00:00.000Z',
      out: narrow,
    });
    assert.equal(part.count, records.filter((r) => (r.at as string) >= at).length);
    assert.equal((await auditVerify(narrow, side.config.audit.key)).ok, true);
  });

  it('reports an edited, a removed, an inserted and a swapped line', async () => {
    for (const format of ['ndjson', 'csv'] as const) {
      const { lines } = await exported(format);
      const first = format === 'csv' ? 1 : 0; // the csv header
      const at = (i: number) => first + i; // index of the i-th record line
      const check = (changed: string[], kind: string, line: number) => {
        const result = verifyAuditText(`${changed.join('\n')}\n`, side.config.audit.key);
        assert.equal(result.ok, false, `${format} ${kind}`);
        const found = result.problems.find((p) => p.kind === kind);
        assert.ok(found, `${format}: expected ${kind}, got ${JSON.stringify(result.problems)}`);
        assert.equal(found.line, line, `${format} ${kind}: ${JSON.stringify(result.problems)}`);
      };
      // edited: a payload changes, its hash stays
      const edited = [...lines];
      edited[at(3)] = edited[at(3)]!.replace(/"tenantId":"[^"]+"|tenant[0-9]_/, (m) =>
        m.startsWith('"') ? '"tenantId":"someone-else"' : 'tenantX_',
      );
      if (edited[at(3)] === lines[at(3)])
        edited[at(3)] = edited[at(3)]!.replace(/"at":"2026/, '"at":"2025');
      if (edited[at(3)] === lines[at(3)])
        edited[at(3)] = edited[at(3)]!.replace(/,2026-/, ',2025-');
      assert.notEqual(edited[at(3)], lines[at(3)]);
      check(edited, 'edited', at(3) + 1);
      // removed
      const removed = [...lines];
      removed.splice(at(4), 1);
      check(removed, 'removed', at(4) + 1);
      // inserted: a copy of a record placed elsewhere
      const inserted = [...lines];
      inserted.splice(at(6), 0, lines[at(2)]!);
      check(inserted, 'inserted', at(6) + 1);
      // swapped: two records change places
      const swapped = [...lines];
      [swapped[at(7)], swapped[at(8)]] = [swapped[at(8)]!, swapped[at(7)]!];
      check(swapped, 'reordered', at(8) + 1);
      // the end cut off: the manifest is missing
      const cut = lines.slice(0, -3);
      assert.ok(
        verifyAuditText(cut.join('\n'), side.config.audit.key).problems.some(
          (p) => p.kind === 'removed',
        ),
      );
      // and the untouched file verifies
      assert.deepEqual(verifyAuditText(lines.join('\n'), side.config.audit.key).problems, []);
    }
  });

  it('writes a file that auditVerify reads back from disk', async () => {
    const { out } = await exported('csv', workload.tenants[0]!);
    assert.equal((await auditVerify(out, side.config.audit.key)).ok, true);
    const text = await readFile(out, 'utf8');
    await writeFile(out, text.replace(/aliyun-main/, 'aliyun-evil'));
    const result = await auditVerify(out, side.config.audit.key);
    assert.equal(result.ok, false);
    assert.equal(result.problems[0]!.kind, 'edited');
  });

  it("names the tenant of a stream whose start an instance did not see, through a verification's message", async () => {
    const tenant = `tenant-${randomUUID()}`;
    const messageId = randomUUID();
    const [message, verification] = [`message-${messageId}`, `verification-${randomUUID()}`];
    const ev = (type: string, data: Record<string, unknown>): NewEvent => ({
      type,
      data,
      metadata: { actor: { type: 'system', id: 'test' }, timestamp: new Date().toISOString() },
    });
    const project = async (upTo: number) => {
      const running = startProjectors(side.deps, { only: ['audit_log'], maxWaitMs: 5 });
      assert.equal(await running.waitFor(upTo, 20_000), true);
      await running.close(); // the next instance starts knowing no stream's tenant
    };
    // 1. the streams start (their first events name the tenant, or the message)
    const [accepted] = (await side.deps.eventStore.readAll({ limit: 100_000 })).filter(
      (e) => e.type === 'sms.accepted.v1',
    );
    await side.deps.eventStore.append(
      message,
      [ev('sms.accepted.v1', { ...accepted!.data, messageId, tenantId: tenant })],
      'no_stream',
    );
    const verificationId = randomUUID();
    const first = await side.deps.eventStore.append(
      verification,
      [
        ev('verification.issued.v1', {
          verificationId,
          messageId,
          templateCode: String(accepted!.data.templateCode),
          codeHash: 'hmac:deadbeef',
          expiresAt: new Date(Date.now() + 300_000).toISOString(),
          maxAttempts: 3,
        }),
      ],
      'no_stream',
    );
    await project(first.position);
    // 2. later events that name no tenant, for a new instance
    await side.deps.eventStore.append(
      message,
      [
        ev('sms.submitted.v1', {
          messageId,
          supplierAccount: 'sim-aliyun',
          supplierMessageId: 's1',
        }),
      ],
      0,
    );
    const last = await side.deps.eventStore.append(
      verification,
      [ev('verification.check-failed.v1', { verificationId, attemptsLeft: 2 })],
      0,
    );
    await project(last.position);
    const records = await side.deps.mongo.db
      .collection<{ streamId: string; version: number; tenantId: string | null }>(
        await liveCollection(side.deps.mongo.db, 'audit_log'),
      )
      .find({ streamId: { $in: [message, verification] } })
      .toArray();
    assert.deepEqual(
      records.map((r) => [r.streamId, r.version, r.tenantId]).sort(),
      [
        [message, 0, tenant],
        [message, 1, tenant],
        [verification, 0, tenant],
        [verification, 1, tenant],
      ].sort(),
    );
  });
});
