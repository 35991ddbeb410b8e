// The query API as a user runs it: visibility, pagination, filters,
// parameter validation, read-your-writes, the audit export endpoint, and the
// admins' views of the pipeline and the jobs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { issueToken } from '../../platform/auth/index.ts';
import { startProjectors, type RunningProjectors } from '../../projectors/index.ts';
import {
  startQueryService,
  verifyAuditText,
  type RunningQueryService,
} from '../../query-service/index.ts';
import { appendWorkload, readSide, type ReadSide, type Workload } from '../../testing/readSide.ts';
import { createPipeline, publishPipeline } from '../../platform/health/index.ts';
import { jobCatalogueKey, jobKeys } from '../../platform/jobs/index.ts';
import { runJobOnce, startScheduler } from '../../jobs/index.ts';

interface Msg {
  messageId: string;
  tenantId: string;
  status: string;
  mobile: string;
  templateCode: string;
  acceptedAt: string;
  content: string;
}

describe('query API', () => {
  let side: ReadSide;
  let workload: Workload;
  let projectors: RunningProjectors | undefined;
  let service: RunningQueryService;
  let admin: string;
  let member: string;
  let memberId: string;

  async function get(path: string, token: string | null = member) {
    const res = await fetch(`${service.url}${path}`, {
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // ndjson or csv
    }
    return {
      status: res.status,
      body: body as Record<string, unknown>,
      headers: res.headers,
      text,
    };
  }

  before(async () => {
    side = await readSide('query', { STREAMING_READ_WAIT_MS: '400' });
    projectors = startProjectors(side.deps, { maxWaitMs: 5 });
    workload = await appendWorkload(side.deps.eventStore, { tenants: 2, messages: 14 });
    assert.equal(await projectors.waitFor(workload.lastPosition, 20_000), true);
    service = await startQueryService(side.deps, { port: 0 });
    admin = issueToken(side.config, { userId: workload.tenants[0]!, role: 'admin' }).token;
    memberId = workload.tenants[1]!;
    member = issueToken(side.config, { userId: memberId, role: 'member' }).token;
  });
  after(async () => {
    await service.close();
    await projectors?.close();
    await side.drop();
  });

  async function allPages(query: string, token: string, limit: number): Promise<Msg[]> {
    const items: Msg[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 100; i++) {
      const sep = query === '' ? '?' : `?${query}&`;
      const res = await get(
        `/v1/messages${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
        token,
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      items.push(...(res.body.items as Msg[]));
      cursor = res.body.nextCursor as string | null;
      if (!cursor) break;
    }
    return items;
  }

  it('asks for authentication', async () => {
    const res = await get('/v1/messages', null);
    assert.equal(res.status, 401);
    assert.equal(res.body.code, 'UNAUTHENTICATED');
  });

  it('shows a member only their own messages, newest first, page by page', async () => {
    const mine = await allPages('', member, 4);
    assert.equal(mine.length, 14);
    assert.ok(mine.every((m) => m.tenantId === memberId));
    assert.equal(new Set(mine.map((m) => m.messageId)).size, mine.length);
    for (let i = 1; i < mine.length; i++) {
      assert.ok(mine[i - 1]!.acceptedAt >= mine[i]!.acceptedAt, 'newest first');
    }
    // verification codes are masked
    assert.ok(mine.filter((m) => m.content.includes('******')).length > 0);
    // an admin sees every tenant, or one
    assert.equal((await allPages('', admin, 10)).length, 28);
    const theirs = await allPages(`tenant=${memberId}`, admin, 50);
    assert.deepEqual(theirs.map((m) => m.messageId).sort(), mine.map((m) => m.messageId).sort());
    // a member asking for another tenant is refused
    const other = await get(`/v1/messages?tenant=${workload.tenants[0]}`);
    assert.equal(other.status, 403);
  });

  it('filters by status, mobile, template and time', async () => {
    const all = await allPages('', member, 50);
    const delivered = await allPages('status=delivered', member, 50);
    assert.ok(delivered.length > 0);
    assert.deepEqual(
      delivered.map((m) => m.messageId).sort(),
      all
        .filter((m) => m.status === 'delivered')
        .map((m) => m.messageId)
        .sort(),
    );
    const mobile = all[0]!.mobile;
    const byMobile = await allPages(`mobile=${encodeURIComponent(mobile)}`, member, 50);
    assert.deepEqual(
      byMobile.map((m) => m.messageId).sort(),
      all
        .filter((m) => m.mobile === mobile)
        .map((m) => m.messageId)
        .sort(),
    );
    const code = all[0]!.templateCode;
    const byTemplate = await allPages(`template=${code}`, member, 50);
    assert.deepEqual(
      byTemplate.map((m) => m.messageId).sort(),
      all
        .filter((m) => m.templateCode === code)
        .map((m) => m.messageId)
        .sort(),
    );
    const sorted = all.map((m) => m.acceptedAt).sort();
    const from = sorted[3]!;
    const to = sorted[8]!;
    const inRange = await allPages(`from=${from}&to=${to}`, member, 2);
    assert.deepEqual(
      inRange.map((m) => m.messageId).sort(),
      all
        .filter((m) => m.acceptedAt >= from && m.acceptedAt < to)
        .map((m) => m.messageId)
        .sort(),
    );
    assert.equal(inRange.length, 5);
  });

  it('shows one message with its timeline, and hides other tenants’ messages', async () => {
    const delivered = await allPages('status=delivered', admin, 50);
    const withFailover = [];
    for (const m of delivered) {
      const res = await get(`/v1/messages/${m.messageId}`, admin);
      assert.equal(res.status, 200);
      const timeline = res.body.timeline as {
        states: { status: string }[];
        attempts: { outcome: string }[];
      };
      assert.equal(timeline.states[0]!.status, 'accepted');
      assert.equal(timeline.states[timeline.states.length - 1]!.status, 'delivered');
      if (timeline.attempts.some((a) => a.outcome === 'rejected')) withFailover.push(m);
    }
    assert.ok(withFailover.length > 0, 'a failover shows as an attempt');
    const foreign = (await allPages('', admin, 50)).find((m) => m.tenantId !== memberId)!;
    const res = await get(`/v1/messages/${foreign.messageId}`);
    assert.equal(res.status, 404);
    assert.equal(res.body.code, 'MESSAGE_NOT_FOUND');
    assert.equal((await get(`/v1/messages/${foreign.messageId}`, admin)).status, 200);
    assert.equal((await get(`/v1/messages/${randomUUID()}`, admin)).status, 404);
  });

  it('lists templates and inbound messages per tenant', async () => {
    const list = await get('/v1/templates');
    assert.equal(list.status, 200);
    const items = list.body.items as { tenantId: string; templateCode: string; status: string }[];
    assert.equal(items.length, 2);
    assert.ok(items.every((t) => t.tenantId === memberId));
    const own = items[0]!.templateCode;
    assert.equal((await get(`/v1/templates/${own}`)).status, 200);
    const foreign = workload.templates.find((t) => t.tenant !== memberId)!;
    const hidden = await get(`/v1/templates/${foreign.code}`);
    assert.equal(hidden.status, 404);
    assert.equal(hidden.body.code, 'TEMPLATE_NOT_FOUND');
    const shown = await get(`/v1/templates/${foreign.code}`, admin);
    assert.equal(shown.status, 200);
    // the extension code, as last set (null when there is none or it was removed)
    assert.equal(shown.body.extendCode, foreign.code === workload.templates[0]!.code ? '77' : null);
    assert.equal(
      (await get(`/v1/templates/${workload.templates[0]!.code}`, admin)).body.extendCode,
      '77',
    );
    assert.ok(items.every((t) => (t as { extendCode?: unknown }).extendCode === null));
    assert.equal(
      ((await get('/v1/templates?status=disabled', admin)).body.items as unknown[]).length,
      1,
    );
    const inbound = await get('/v1/inbound');
    assert.equal(inbound.status, 200);
    const rows = inbound.body.items as { tenantId: string; optOutKeyword: string | null }[];
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r) => r.tenantId === memberId));
    assert.equal(rows.filter((r) => r.optOutKeyword === 'STOP').length, 1);
  });

  it('counts by status, supplier and template per hour and day', async () => {
    const res = await get(
      '/v1/stats?from=2026-03-01T00:00:00.000Z&to=2026-03-02T00:00:00.000Z&granularity=hour',
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const buckets = res.body.buckets as {
      start: string;
      total: number;
      byStatus: Record<string, number>;
      byTemplate: Record<string, number>;
      bySupplier: Record<string, number>;
    }[];
    const total = buckets.reduce((n, b) => n + b.total, 0);
    assert.equal(total, 14);
    for (const b of buckets) {
      assert.equal(
        Object.values(b.byStatus).reduce((x, y) => x + y, 0),
        b.total,
      );
      assert.equal(
        Object.values(b.byTemplate).reduce((x, y) => x + y, 0),
        b.total,
      );
      assert.equal(
        Object.values(b.bySupplier).reduce((x, y) => x + y, 0),
        b.total,
      );
    }
    const all = await allPages('', member, 50);
    const delivered = all.filter((m) => m.status === 'delivered').length;
    assert.equal(
      buckets.reduce((n, b) => n + (b.byStatus.delivered ?? 0), 0),
      delivered,
    );
    const daily = await get(
      '/v1/stats?from=2026-03-01T00:00:00.000Z&to=2026-03-02T00:00:00.000Z&granularity=day',
      admin,
    );
    assert.deepEqual(
      (daily.body.buckets as { total: number }[]).map((b) => b.total),
      [28],
    );
  });

  it('gives the receipt latency percentiles of each bucket, from its delivered messages', async () => {
    const res = await get(
      '/v1/stats?from=2026-03-01T00:00:00.000Z&to=2026-03-02T00:00:00.000Z&granularity=hour',
      admin,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const buckets = res.body.buckets as {
      start: string;
      byStatus: Record<string, number>;
      receiptLatencyMs: { count: number; p50: number; p90: number; p99: number } | null;
    }[];
    // the same, worked out here from the messages the API lists (nearest rank)
    const all = (await allPages('', admin, 50)) as (Msg & {
      submittedAt: string | null;
      updatedAt: string;
    })[];
    const byHour = new Map<string, number[]>();
    for (const m of all) {
      if (m.status !== 'delivered' || !m.submittedAt) continue;
      const hour = `${m.acceptedAt.slice(0, 13)}:00:00.000Z`;
      // from the submission to the receipt's arrival (the delivered row's last change)
      const ms = Math.max(0, Date.parse(m.updatedAt) - Date.parse(m.submittedAt));
      byHour.set(hour, [...(byHour.get(hour) ?? []), ms]);
    }
    assert.ok(byHour.size > 0, 'the workload has delivered messages');
    const rank = (sorted: number[], p: number) =>
      sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;
    for (const b of buckets) {
      const mine = (byHour.get(b.start) ?? []).sort((x, y) => x - y);
      if (mine.length === 0) {
        assert.equal(b.receiptLatencyMs, null, b.start);
        continue;
      }
      assert.ok(b.receiptLatencyMs, b.start);
      assert.equal(b.receiptLatencyMs.count, mine.length);
      assert.ok(b.receiptLatencyMs.count <= (b.byStatus.delivered ?? 0));
      for (const [p, q] of [
        ['p50', 0.5],
        ['p90', 0.9],
        ['p99', 0.99],
      ] as const) {
        assert.ok(Math.abs(b.receiptLatencyMs[p] - rank(mine, q)) < 0.01, `${b.start} ${p}`);
      }
    }
  });

  it('shows admins the pipeline and the jobs, and refuses members with 403', async () => {
    for (const path of ['/v1/pipeline', '/v1/jobs']) {
      const refused = await get(path, member);
      assert.equal(refused.status, 403, path);
      assert.equal(refused.body.code, 'FORBIDDEN');
      assert.equal((await get(path, null)).status, 401, path);
    }
    // a part published by "another process", and a job a scheduler announced and ran
    const name = `test-part-${randomUUID().slice(0, 8)}`;
    const pipeline = createPipeline();
    const part = pipeline.register(name, 'projection', { position: () => 0 });
    part.setActive(true);
    const publishing = publishPipeline(
      side.deps.redis,
      pipeline,
      () => side.deps.eventStore.headPosition(),
      { process: 'test', everyMs: 100 },
    );
    const job = `test-job-${randomUUID().slice(0, 8)}`;
    const schedulerDeps = { redis: side.deps.redis, logger: side.deps.logger, leaseMs: 5_000 };
    const definition = { name: job, schedule: '0 0 1 1 *', run: async () => ({ swept: 3 }) };
    const scheduler = startScheduler(schedulerDeps, [definition]);
    try {
      const ran = await runJobOnce(schedulerDeps, definition);
      assert.equal(ran.status, 'ran');
      let shown: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && !shown; i++) {
        const r = await get('/v1/pipeline', admin);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        shown = (r.body.parts as Record<string, unknown>[]).find((p) => p.name === name);
        if (!shown) await new Promise((done) => setTimeout(done, 100));
      }
      assert.ok(shown, 'the published part is listed');
      assert.equal(shown.kind, 'projection');
      assert.equal(shown.process, 'test');
      const head = await side.deps.eventStore.headPosition();
      assert.ok(
        Number(shown.lag) >= head - 1 && Number(shown.lagSeconds) > 0,
        JSON.stringify(shown),
      );

      const jobs = await get('/v1/jobs?runs=5', admin);
      assert.equal(jobs.status, 200, JSON.stringify(jobs.body));
      const listed = (
        jobs.body.items as {
          name: string;
          schedule: string;
          nextRun: string;
          lastRun: { status: string; result: unknown } | null;
          runs: unknown[];
        }[]
      ).find((j) => j.name === job);
      assert.ok(listed, 'the announced job is listed');
      assert.equal(listed.schedule, '0 0 1 1 *');
      assert.match(listed.nextRun, /-01-01T00:00:00/);
      assert.equal(listed.lastRun?.status, 'succeeded');
      assert.deepEqual(listed.lastRun?.result, { swept: 3 });
      assert.equal(listed.runs.length, 1);
      assert.equal((await get('/v1/jobs?runs=1000', admin)).status, 400);
    } finally {
      await publishing.stop();
      part.close();
      await scheduler.close();
      const keys = jobKeys('', job);
      await side.deps.redis.del(keys.last, keys.history, keys.lock);
      await side.deps.redis.hdel(jobCatalogueKey(''), job);
    }
  });

  it('rejects bad parameters with a code, never a 500', async () => {
    const cases: [string, number, string][] = [
      ['/v1/messages?cursor=not*base64', 400, 'INVALID_CURSOR'],
      [`/v1/messages?cursor=${Buffer.from('hello').toString('base64url')}`, 400, 'INVALID_CURSOR'],
      [
        `/v1/messages?cursor=${Buffer.from('["yesterday","x"]').toString('base64url')}`,
        400,
        'INVALID_CURSOR',
      ],
      [`/v1/messages?cursor=${Buffer.from('[1,2]').toString('base64url')}`, 400, 'INVALID_CURSOR'],
      ['/v1/inbound?cursor=%7B%7D', 400, 'INVALID_CURSOR'],
      [`/v1/templates?cursor=${Buffer.from('{}').toString('base64url')}`, 400, 'INVALID_CURSOR'],
      ['/v1/messages?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', 400, 'INVALID_RANGE'],
      ['/v1/messages?from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z', 400, 'INVALID_RANGE'],
      [
        '/v1/stats?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&granularity=hour',
        400,
        'INVALID_RANGE',
      ],
      ['/v1/stats?from=2026-03-01T00:00:00Z&granularity=week', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?from=yesterday', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?status=lost', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?limit=0', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?limit=1000', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?limit=ten', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?mobile=call-me', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?colour=red', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?status=delivered&status=failed', 400, 'VALIDATION_FAILED'],
      ['/v1/messages?after=-1', 400, 'VALIDATION_FAILED'],
      ['/v1/messages/x?after=soon', 400, 'VALIDATION_FAILED'],
      ['/v1/inbound?mobile=%2B1', 400, 'VALIDATION_FAILED'],
      ['/v1/audit/export?format=xml', 400, 'VALIDATION_FAILED'],
    ];
    for (const [path, status, code] of cases) {
      const res = await get(path, admin);
      assert.equal(res.status, status, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, code, path);
    }
  });

  it('waits for ?after= and says so when the read model lags', async () => {
    const tenant = memberId;
    const template = workload.templates.find((t) => t.tenant === tenant)!;
    const accept = async () => {
      const messageId = randomUUID();
      const r = await side.deps.eventStore.append(
        `message-${messageId}`,
        [
          {
            type: 'sms.accepted.v1',
            data: {
              messageId,
              tenantId: tenant,
              templateId: template.id,
              templateCode: template.code,
              kind: 'notification',
              mobile: '+8613700000001',
              content: 'hello',
              segments: 1,
              encoding: 'GSM-7',
              suppliers: ['aliyun-main'],
              requestHash: 'x',
            },
          },
        ],
        'no_stream',
      );
      return { messageId, position: r.position };
    };
    // projectors running: the query waits for the write and sees it
    const first = await accept();
    const seen = await get(`/v1/messages/${first.messageId}?after=${first.position}`);
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    // projectors stopped: the wait runs out with 503 READ_MODEL_LAGGING and Retry-After
    await projectors!.close();
    projectors = undefined;
    const second = await accept();
    const lagging = await get(`/v1/messages?after=${second.position}`);
    assert.equal(lagging.status, 503);
    assert.equal(lagging.body.code, 'READ_MODEL_LAGGING');
    assert.equal(lagging.headers.get('retry-after'), '1');
    // a position the event store has not reached: 400, not a wait ending in 503
    const head = await side.deps.eventStore.headPosition();
    const ahead = await get(`/v1/messages?after=${head + 1_000}`);
    assert.equal(ahead.status, 400);
    assert.equal(ahead.body.code, 'POSITION_AHEAD_OF_STORE');
    // without after=, the (stale) answer comes at once
    assert.equal((await get(`/v1/messages/${second.messageId}`)).status, 404);
    // restarted, the same question is answered
    projectors = startProjectors(side.deps, { maxWaitMs: 5 });
    const pending = get(`/v1/messages/${second.messageId}?after=${second.position}`);
    const answered = await pending;
    if (answered.status === 503) {
      // the projector may take longer than one wait to start: then once more
      await projectors.waitFor(second.position, 10_000);
      assert.equal(
        (await get(`/v1/messages/${second.messageId}?after=${second.position}`)).status,
        200,
      );
    } else {
      assert.equal(answered.status, 200);
    }
    workload.lastPosition = second.position;
  });

  it('streams the audit export to admins only', async () => {
    assert.equal((await get('/v1/audit/export')).status, 403);
    await projectors!.waitFor(workload.lastPosition, 10_000);
    const res = await get(
      `/v1/audit/export?tenant=${memberId}&after=${workload.lastPosition}`,
      admin,
    );
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    const result = verifyAuditText(res.text, side.config.audit.key);
    assert.deepEqual(result.problems, []);
    assert.ok(result.records > 14);
    assert.ok(!res.text.includes('sealed:abcdef'));
    const csv = await get('/v1/audit/export?format=csv', admin);
    assert.equal(csv.status, 200);
    const all = verifyAuditText(csv.text, side.config.audit.key);
    assert.equal(all.format, 'csv');
    assert.deepEqual(all.problems, []);
    assert.equal(all.records, workload.lastPosition);
  });
});
