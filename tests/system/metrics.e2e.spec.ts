// One scrape of a running system (`streaming start`, its supervisor's
// aggregated /metrics) after 100 sends and a few refused ones: every counter
// moved by exactly what was done, and the labels stay bounded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  approvedBySuppliers,
  call,
  eventually,
  startSystem,
  type RunningSystem,
} from '../support/system.ts';

const SENDS = 100;
const REFUSED = 3;

type Sample = { name: string; labels: Record<string, string>; value: number };

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function sum(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

describe('Prometheus metrics of a running system', () => {
  let sys: RunningSystem;
  let token = '';

  before(async () => {
    sys = await startSystem('metrics', 18280);
    token = (await sys.tenant()).token;
  });
  after(async () => {
    await sys?.stop();
  });

  const scrape = async () => {
    const res = await fetch(`${sys.metrics}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    return parse(await res.text());
  };

  test('after 100 sends the counters moved by exactly what was done', async () => {
    const tpl = await call(
      `${sys.command}/v1/templates`,
      'POST',
      {
        name: 'metrics',
        kind: 'notification',
        signature: 'Acme',
        content: 'Hi ${name}',
        policy: {},
      },
      token,
    );
    assert.equal(tpl.status, 201, JSON.stringify(tpl.json));
    const templateCode = String(tpl.json.templateCode);
    await approvedBySuppliers(sys, token, templateCode, 'Acme');
    const before = await scrape();

    const ids: string[] = [];
    for (let i = 0; i < SENDS; i++) {
      const r = await call(
        `${sys.command}/v1/messages`,
        'POST',
        { templateCode, mobile: `1380013${String(i).padStart(4, '0')}`, params: { name: `n${i}` } },
        token,
      );
      assert.equal(r.status, 202, JSON.stringify(r.json));
      ids.push(String(r.json.messageId));
    }
    for (let i = 0; i < REFUSED; i++) {
      const r = await call(
        `${sys.command}/v1/messages`,
        'POST',
        { templateCode: 'NO_SUCH_TEMPLATE', mobile: '13800138000', params: {} },
        token,
      );
      assert.equal(r.status, 404, JSON.stringify(r.json));
    }

    // every message final in the query API, with its timeline of supplier attempts
    type Attempt = { account: string; outcome: string };
    const messages = await eventually(
      'every message final',
      async () => {
        const got: { status: string; attempts: Attempt[] }[] = [];
        for (const id of ids) {
          const r = await call(`${sys.query}/v1/messages/${id}`, 'GET', undefined, token);
          const status = String(r.json.status);
          if (!['delivered', 'undelivered', 'failed'].includes(status)) return undefined;
          const timeline = r.json.timeline as
            { states?: { status: string }[]; attempts?: Attempt[] } | undefined;
          // the timeline is a projection of its own: final there too
          if (!(timeline?.states ?? []).some((st) => st.status === status)) return undefined;
          got.push({ status, attempts: timeline?.attempts ?? [] });
        }
        return got;
      },
      120_000,
    );
    const statuses = messages.map((m) => m.status);
    const delivered = statuses.filter((s) => s === 'delivered').length;
    // what the dispatchers did, per account, as the timelines tell it
    const did = (outcome: string) => {
      const n = new Map<string, number>();
      for (const m of messages) {
        for (const a of m.attempts) {
          if (a.outcome === outcome) n.set(a.account, (n.get(a.account) ?? 0) + 1);
        }
      }
      return n;
    };

    const after = await eventually('the final statuses counted', async () => {
      const s = await scrape();
      return sum(s, 'streaming_messages_final_total') -
        sum(before, 'streaming_messages_final_total') >=
        SENDS
        ? s
        : undefined;
    });
    const delta = (name: string, where: Record<string, string> = {}) =>
      sum(after, name, where) - sum(before, name, where);

    assert.equal(delta('streaming_sends_total', { outcome: 'accepted' }), SENDS);
    assert.equal(
      delta('streaming_sends_total', { outcome: 'refused', code: 'TEMPLATE_NOT_FOUND' }),
      REFUSED,
    );
    assert.equal(
      delta('streaming_http_requests_total', {
        service: 'command-service',
        method: 'POST',
        route: '/v1/messages',
        status: '202',
      }),
      SENDS,
    );
    assert.equal(delta('streaming_messages_accepted_total', { kind: 'notification' }), SENDS);
    assert.equal(delta('streaming_messages_final_total'), SENDS);
    assert.equal(delta('streaming_messages_final_total', { status: 'delivered' }), delivered);
    assert.ok(
      delta('streaming_submissions_total') >= delivered,
      'a delivered message was submitted',
    );
    // submissions and failovers by account: exactly the attempts the timelines show
    const submitted = did('submitted');
    const failedOver = did('rejected');
    for (const account of ['sim-aliyun', 'sim-tencent']) {
      assert.equal(
        delta('streaming_submissions_total', { account }),
        submitted.get(account) ?? 0,
        `submissions through ${account}`,
      );
      assert.equal(
        delta('streaming_failovers_total', { account }),
        failedOver.get(account) ?? 0,
        `failovers away from ${account}`,
      );
    }
    // a receipt per delivered or undelivered message, and no mismatched one
    assert.ok(
      delta('streaming_receipts_total') >= statuses.filter((x) => x !== 'failed').length,
      'receipts counted',
    );
    assert.equal(delta('streaming_receipts_mismatched_total'), 0);
    assert.equal(
      delta('streaming_receipt_latency_seconds_count'),
      statuses.filter((s) => s !== 'failed').length,
    );
    assert.ok(
      delta('streaming_vendor_call_duration_seconds_count', { api: 'SendSms' }) >= delivered,
    );

    // one scrape covers every part, each with its process metrics
    const processes = new Set(
      after.filter((s) => s.name === 'process_cpu_user_seconds_total').map((s) => s.labels.process),
    );
    for (const p of ['supervisor', 'command', 'query', 'processors', 'projectors+jobs+pump']) {
      assert.ok(processes.has(p), `process metrics of ${p}: ${[...processes].join(', ')}`);
    }
    // gauges of the pipeline are there
    for (const name of [
      'streaming_projection_lag_events',
      'streaming_relay_lag_events',
      'streaming_kafka_consumer_lag',
      'streaming_parked_receipts',
      'streaming_projection_dead_letters',
      'streaming_projection_lag_seconds',
      'streaming_relay_lag_seconds',
      'streaming_throttle_wait_seconds_count',
    ]) {
      assert.ok(
        after.some((s) => s.name === name),
        name,
      );
    }

    // the breaker of every configured account, closed after these good calls
    for (const account of ['sim-aliyun', 'sim-tencent']) {
      const b = after.filter(
        (x) => x.name === 'streaming_breaker_state' && x.labels.account === account,
      );
      assert.ok(b.length > 0 && b.every((x) => x.value === 0), `breaker of ${account} closed`);
    }

    // bounded labels: no message id or mobile anywhere in the exposition
    const text = await (await fetch(`${sys.metrics}/metrics`)).text();
    for (const id of ids.slice(0, 5)) assert.ok(!text.includes(id), 'no message ids');
    assert.ok(!text.includes('13800130000'), 'no mobiles');
    assert.ok(!/route="\/v1\/messages\/[0-9a-f-]{8,}/.test(text), 'route patterns, not paths');

    // not on the public API port (no STREAMING_METRICS_TOKEN here)
    const onApi = await fetch(`${sys.query}/metrics`);
    assert.equal(onApi.status, 404);
  });
});
