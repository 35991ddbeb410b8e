// A tenant's own export of its message history: streamed NDJSON or CSV for a
// time range, only its own messages, numbers masked unless a person asks
// otherwise (API keys cannot).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { issueToken } from '../../platform/auth/index.ts';
import { startProjectors, type RunningProjectors } from '../../projectors/index.ts';
import { startQueryService, type RunningQueryService } from '../../query-service/index.ts';
import { appendWorkload, readSide, type ReadSide, type Workload } from '../../testing/readSide.ts';

describe('message export', () => {
  let side: ReadSide;
  let workload: Workload;
  let projectors: RunningProjectors | undefined;
  let service: RunningQueryService;
  let member: string;
  let memberId: string;
  const range = 'from=2026-02-01T00:00:00Z&to=2026-04-01T00:00:00Z';

  before(async () => {
    side = await readSide('export', { STREAMING_READ_WAIT_MS: '400' });
    projectors = startProjectors(side.deps, { maxWaitMs: 5 });
    workload = await appendWorkload(side.deps.eventStore, { tenants: 2, messages: 14 });
    assert.equal(await projectors.waitFor(workload.lastPosition, 20_000), true);
    service = await startQueryService(side.deps, { port: 0 });
    memberId = workload.tenants[1]!;
    member = issueToken(side.config, { userId: memberId, role: 'member' }).token;
  });
  after(async () => {
    await service?.close();
    await projectors?.close();
    await side?.drop();
  });

  const get = (path: string, token = member) =>
    fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('streams the tenant’s own messages as NDJSON with masked numbers', async () => {
    const res = await get(`/v1/messages/export?${range}&format=ndjson`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 14);
    assert.equal(new Set(lines.map((l) => l.messageId)).size, 14);
    for (const l of lines) assert.match(String(l.mobile), /\*\*\*\*/, 'masked');
    for (let i = 1; i < lines.length; i++)
      assert.ok(lines[i - 1].acceptedAt <= lines[i].acceptedAt);
  });

  it('gives CSV with a header, and numbers in clear when a person asks', async () => {
    const res = await get(`/v1/messages/export?${range}&format=csv&mask=false`);
    assert.equal(res.status, 200);
    const rows = (await res.text()).trim().split('\r\n');
    assert.equal(rows[0]!.split(',')[0], 'messageId');
    assert.equal(rows.length, 15, rows.slice(0, 3).join('\n'));
    for (const r of rows.slice(1)) assert.match(r, /\+86\d{11}/, r);
  });

  it('keeps to the range and refuses a bad one', async () => {
    const none = await get('/v1/messages/export?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z');
    assert.equal(none.status, 200);
    assert.equal((await none.text()).trim(), '');
    const bad = await get('/v1/messages/export?from=2026-04-01T00:00:00Z&to=2026-02-01T00:00:00Z');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: string }).code, 'INVALID_RANGE');
    const missing = await get('/v1/messages/export?format=csv');
    assert.equal(missing.status, 400);
  });
});
