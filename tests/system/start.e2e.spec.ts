// The whole system as a newcomer runs it: `streaming start` (without the
// stack step, which CI has already done) in a child process, on its own
// database, Redis DB, Mongo database and ports. A notification and a
// verification code go through the command API, Kafka, the dispatcher, the
// simulated suppliers and their receipts, and come back in the query API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { getPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { dropReadModelDatabases } from '../../platform/readModels/index.ts';
import { defaultSupplierAccounts } from '../../platform/config/index.ts';
import { isAlive } from '../../stack/index.ts';

const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const ports = { command: 18080, query: 18081, grpc: 18082, simulator: 18090, metrics: 19464 };
const base = `http://127.0.0.1:${ports.command}`;
const queryBase = `http://127.0.0.1:${ports.query}`;
const simBase = `http://127.0.0.1:${ports.simulator}`;
const mongoDbName = `streaming_t_system_${randomBytes(4).toString('hex')}`;

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

async function call(url: string, method: string, body?: unknown, token?: string): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The latest pid of each child, from the supervisor's "started <name> (pid N)" lines. */
function childPids(log: string): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const m of log.matchAll(/streaming: started (\w+) \(pid (\d+)\)/g))
    pids[m[1]!] = Number(m[2]);
  return pids;
}

// the default simulator accounts, pointed at this test's simulator port
const suppliers = () =>
  JSON.stringify(defaultSupplierAccounts.map((a) => ({ ...a, endpoint: `${simBase}/` })));

describe('streaming start, as a user runs it', () => {
  let db: TestDatabase;
  let child: ChildProcess;
  let output = '';
  let token = '';

  before(async () => {
    db = await freshDatabase('system');
    child = spawn(process.execPath, [main, 'start', '--no-stack'], {
      env: {
        ...process.env,
        STREAMING_MYSQL_URL: db.url,
        STREAMING_REDIS_URL: 'redis://127.0.0.1:6379/6',
        STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${mongoDbName}`,
        STREAMING_COMMAND_PORT: String(ports.command),
        STREAMING_QUERY_PORT: String(ports.query),
        STREAMING_GRPC_PORT: String(ports.grpc),
        STREAMING_SIMULATOR_PORT: String(ports.simulator),
        STREAMING_METRICS_PORT: String(ports.metrics),
        STREAMING_SUPPLIERS: suppliers(),
        STREAMING_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(
      'the services to be ready',
      async () => {
        const [a, b] = await Promise.all([fetch(`${base}/readyz`), fetch(`${queryBase}/readyz`)]);
        return a.ok && b.ok ? true : undefined;
      },
      60_000,
    );
    const username = `newcomer${randomBytes(3).toString('hex')}`;
    const reg = await call(`${base}/v1/users`, 'POST', {
      username,
      password: 'correct horse battery',
    });
    assert.equal(reg.status, 201);
    const login = await call(`${base}/v1/sessions`, 'POST', {
      username,
      password: 'correct horse battery',
    });
    assert.equal(login.status, 200);
    token = String(login.json.token);
    // the tenant's signature, reviewed by both simulated vendors
    const sig = await call(`${base}/v1/signatures`, 'POST', { name: 'Acme' }, token);
    assert.equal(sig.status, 201, JSON.stringify(sig.json));
  });

  /** A template of the tenant's, once both accounts approved it and its signature (query API). */
  async function approvedTemplate(body: Record<string, unknown>, who = token): Promise<string> {
    const tpl = await call(`${base}/v1/templates`, 'POST', body, who);
    assert.equal(tpl.status, 201, JSON.stringify(tpl.json));
    const code = String(tpl.json.templateCode);
    await approval(code, String(body.signature), who);
    return code;
  }

  async function approval(code: string, signature: string, who = token): Promise<void> {
    await eventually(`template ${code} and its signature approved`, async () => {
      const t = await call(`${queryBase}/v1/templates/${code}`, 'GET', undefined, who);
      const s = await call(`${queryBase}/v1/signatures`, 'GET', undefined, who);
      const bindings = (t.json.bindings ?? []) as { status: string }[];
      const sigs = (s.json.items ?? []) as { name: string; accounts: { status: string }[] }[];
      const sig = sigs.find((x) => x.name === signature);
      return bindings.length > 0 &&
        bindings.every((b) => b.status === 'approved') &&
        sig?.accounts.every((a) => a.status === 'approved')
        ? true
        : undefined;
    });
  }

  after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    // children stop by themselves when their supervisor is gone; make sure
    for (const pid of Object.values(childPids(output))) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    const mongo = new MongoClient(`mongodb://127.0.0.1:27017/${mongoDbName}`);
    await dropReadModelDatabases(mongo.db(mongoDbName)).catch(() => undefined);
    await mongo.close();
    await db.drop();
  });

  test('a notification is delivered and shows in the history with its timeline', async () => {
    const templateCode = await approvedTemplate({
      name: 'welcome',
      kind: 'notification',
      signature: 'Acme',
      content: 'Welcome, ${name}!',
      policy: {},
    });
    const sent = await call(
      `${base}/v1/messages`,
      'POST',
      { templateCode, mobile: '13800138000', params: { name: 'Li' } },
      token,
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.json));
    const messageId = String(sent.json.messageId);

    const message = await eventually('the delivery receipt in the query API', async () => {
      const r = await call(`${queryBase}/v1/messages/${messageId}`, 'GET', undefined, token);
      return r.status === 200 && r.json.status === 'delivered' ? r.json : undefined;
    });
    assert.equal(message.mobile, '+8613800138000');

    const list = await call(`${queryBase}/v1/messages?mobile=13800138000`, 'GET', undefined, token);
    assert.equal(list.status, 200);
    const items = (list.json.items ?? list.json.messages) as { messageId: string }[];
    assert.ok(
      items.some((m) => m.messageId === messageId),
      `history lists the message: ${JSON.stringify(list.json).slice(0, 500)}`,
    );

    const seen = await call(`${simBase}/admin/messages?outId=${messageId}`, 'GET');
    assert.equal(seen.json.received, 1, 'the supplier received it exactly once');
  });

  test('a verification code reaches the supplier, never the read side, and checks once', async () => {
    const templateCode = await approvedTemplate({
      name: 'login code',
      kind: 'verification',
      signature: 'Acme',
      content: 'Your code is ${code}.',
    });
    const asked = await call(
      `${base}/v1/verifications`,
      'POST',
      { templateCode, mobile: '13900139000' },
      token,
    );
    assert.equal(asked.status, 202, JSON.stringify(asked.json));
    const messageId = String(asked.json.messageId);

    // The simulated supplier got the real code in the template params.
    const code = await eventually('the code at the supplier', async () => {
      const r = await call(`${simBase}/admin/messages?outId=${messageId}`, 'GET');
      const messages = r.json.messages as { params?: { code?: string } }[] | undefined;
      const value = messages?.[0]?.params?.code;
      return value && /^\d{6}$/.test(value) ? value : undefined;
    });

    // The read side shows the message with the code masked.
    const shown = await eventually('the message in the query API', async () => {
      const r = await call(`${queryBase}/v1/messages/${messageId}`, 'GET', undefined, token);
      return r.status === 200 ? r : undefined;
    });
    assert.ok(!JSON.stringify(shown.json).includes(code), 'the code is not in the query API');

    const wrong = code === '000000' ? '111111' : '000000';
    const bad = await call(
      `${base}/v1/verifications/check`,
      'POST',
      { templateCode, mobile: '13900139000', code: wrong },
      token,
    );
    assert.equal(bad.status, 422);
    const good = await call(
      `${base}/v1/verifications/check`,
      'POST',
      { templateCode, mobile: '13900139000', code },
      token,
    );
    assert.equal(good.status, 200);
    assert.equal(good.json.valid, true);
    const again = await call(
      `${base}/v1/verifications/check`,
      'POST',
      { templateCode, mobile: '13900139000', code },
      token,
    );
    assert.equal(again.status, 410, 'a used code never validates again');
  });

  test('a new tenant: signature, template, approved by both vendors; the text the vendor rendered is the one in the query API', async () => {
    const username = `shop${randomBytes(3).toString('hex')}`;
    await call(`${base}/v1/users`, 'POST', { username, password: 'correct horse battery' });
    const login = await call(`${base}/v1/sessions`, 'POST', {
      username,
      password: 'correct horse battery',
    });
    const who = String(login.json.token);
    const signature = `Shop${randomBytes(2).toString('hex')}`;
    const sig = await call(`${base}/v1/signatures`, 'POST', { name: signature }, who);
    assert.equal(sig.status, 201, JSON.stringify(sig.json));
    const content = 'Hi ${name}, order ${order} is on its way.';
    const tpl = await call(
      `${base}/v1/templates`,
      'POST',
      { name: 'shipped', kind: 'notification', signature, content, policy: {} },
      who,
    );
    assert.equal(tpl.status, 201, JSON.stringify(tpl.json));
    const templateCode = String(tpl.json.templateCode);
    // the caller's keys in the reverse of the template's order
    const params = { order: 'A-17', name: 'Li' };
    const early = await call(
      `${base}/v1/messages`,
      'POST',
      { templateCode, mobile: '13600136000', params },
      who,
    );
    assert.equal(early.status, 422, JSON.stringify(early.json));
    assert.equal(early.json.code, 'TEMPLATE_NOT_APPROVED');

    await approval(templateCode, signature, who);
    const shown = await call(`${queryBase}/v1/templates/${templateCode}`, 'GET', undefined, who);
    const bindings = shown.json.bindings as {
      account: string;
      vendorTemplateId: string;
      params: string[];
    }[];
    const aliyun = bindings.find((b) => b.account === 'sim-aliyun')!;
    const tencent = bindings.find((b) => b.account === 'sim-tencent')!;
    assert.match(aliyun.vendorTemplateId, /^SMS_\d+$/);
    assert.match(tencent.vendorTemplateId, /^\d+$/);
    assert.deepEqual(tencent.params, ['name', 'order'], 'Tencent {1}, {2} in the template order');

    for (const [i, binding] of [aliyun, tencent].entries()) {
      const routed = await call(
        `${base}/v1/templates/${templateCode}`,
        'PATCH',
        { suppliers: [binding.account] },
        who,
      );
      assert.equal(routed.status, 200, JSON.stringify(routed.json));
      const mobile = `1360013600${i + 1}`;
      const sent = await call(`${base}/v1/messages`, 'POST', { templateCode, mobile, params }, who);
      assert.equal(sent.status, 202, JSON.stringify(sent.json));
      const messageId = String(sent.json.messageId);
      const message = await eventually(`delivered through ${binding.account}`, async () => {
        const r = await call(`${queryBase}/v1/messages/${messageId}`, 'GET', undefined, who);
        return r.status === 200 && r.json.status === 'delivered' ? r.json : undefined;
      });
      assert.equal(message.content, 'Hi Li, order A-17 is on its way.');
      const atVendor = await call(
        `${simBase}/admin/accounts/${binding.account}/messages?mobile=${mobile}`,
        'GET',
      );
      const received = atVendor.json.messages as { templateCode: string; text: string }[];
      assert.equal(received.length, 1, JSON.stringify(atVendor.json));
      assert.equal(
        received[0]!.templateCode,
        binding.vendorTemplateId,
        "the vendor's id, not ours",
      );
      assert.equal(received[0]!.text, `【${signature}】${String(message.content)}`);
    }
  });

  test('without an approved signature a send is refused; a rejected template shows why', async () => {
    const unsigned = await call(
      `${base}/v1/templates`,
      'POST',
      { name: 'n', kind: 'notification', signature: 'Unreviewed', content: 'Ok ${x}.', policy: {} },
      token,
    );
    const code = String(unsigned.json.templateCode);
    await eventually('the template approved (its signature never registered)', async () => {
      const t = await call(`${queryBase}/v1/templates/${code}`, 'GET', undefined, token);
      const bindings = (t.json.bindings ?? []) as { status: string }[];
      return bindings.length > 0 && bindings.every((b) => b.status === 'approved')
        ? true
        : undefined;
    });
    const refused = await call(
      `${base}/v1/messages`,
      'POST',
      { templateCode: code, mobile: '13500135000', params: { x: '1' } },
      token,
    );
    assert.equal(refused.status, 422, JSON.stringify(refused.json));
    assert.equal(refused.json.code, 'SIGNATURE_NOT_APPROVED');

    const rule = await call(`${simBase}/admin/accounts/sim-tencent`, 'PUT', {
      reviewRejectPattern: 'casino',
      reviewRejectReason: 'gambling is not allowed',
    });
    assert.equal(rule.status, 200, JSON.stringify(rule.json));
    try {
      const bad = await call(
        `${base}/v1/templates`,
        'POST',
        {
          name: 'promo',
          kind: 'notification',
          signature: 'Acme',
          content: 'Our casino awaits you, ${name}.',
          policy: {},
        },
        token,
      );
      const badCode = String(bad.json.templateCode);
      const rejected = await eventually('the Tencent review final', async () => {
        const t = await call(`${queryBase}/v1/templates/${badCode}`, 'GET', undefined, token);
        const b = ((t.json.bindings ?? []) as { account: string; status: string }[]).find(
          (x) => x.account === 'sim-tencent',
        );
        return b && b.status !== 'pending' ? b : undefined;
      });
      assert.deepEqual(
        { status: rejected.status, reason: (rejected as { reason?: string }).reason },
        { status: 'rejected', reason: 'gambling is not allowed' },
      );
    } finally {
      await call(`${simBase}/admin/accounts/sim-tencent`, 'PUT', { reviewRejectPattern: null });
    }
  });

  test('the APIs run at normal priority, the background children below them', () => {
    const pids = childPids(output);
    for (const api of ['command', 'query', 'grpc']) {
      assert.equal(getPriority(pids[api]!), getPriority(), `${api} at the supervisor's priority`);
    }
    for (const background of ['processors', 'callbacks', 'projectors', 'simulator']) {
      assert.equal(
        getPriority(pids[background]!),
        Math.min(19, getPriority() + 10),
        `${background} at STREAMING_BACKGROUND_NICE (10) above the supervisor's`,
      );
    }
  });

  test('a killed child is restarted and the system keeps delivering', async () => {
    const before = childPids(output);
    assert.ok(before.processors && before.command, `children named in the log: ${output}`);
    process.kill(before.processors, 'SIGKILL');
    process.kill(before.command, 'SIGKILL');
    const after = await eventually('both children restarted', async () => {
      const now = childPids(output);
      return now.processors !== before.processors && now.command !== before.command
        ? now
        : undefined;
    });
    assert.ok(isAlive(after.processors!) && isAlive(after.command!));
    assert.ok(
      getPriority(after.processors!) > getPriority(after.command!),
      'a restarted background child is lowered again',
    );
    const tpl = await eventually('the restarted command API', async () => {
      const r = await call(
        `${base}/v1/templates`,
        'POST',
        { name: 'after', kind: 'notification', signature: 'Acme', content: 'Hi', policy: {} },
        token,
      );
      return r.status === 201 ? r : undefined;
    });
    await approval(String(tpl.json.templateCode), 'Acme');
    const sent = await call(
      `${base}/v1/messages`,
      'POST',
      { templateCode: tpl.json.templateCode, mobile: '13700137000', params: {} },
      token,
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.json));
    const messageId = String(sent.json.messageId);
    // the restarted processors first wait out the dead one's locks and Kafka session
    let last = '';
    await eventually(
      'delivery through the restarted processors',
      async () => {
        const r = await call(`${queryBase}/v1/messages/${messageId}`, 'GET', undefined, token);
        last = `${r.status} ${String(r.json.status)}`;
        return r.status === 200 && r.json.status === 'delivered' ? true : undefined;
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message} (last seen: ${last}); log: ${output.slice(-3000)}`);
    });
    const seen = await call(`${simBase}/admin/messages?outId=${messageId}`, 'GET');
    assert.equal(seen.json.received, 1, 'the supplier received it exactly once');
  });

  test('Ctrl-C stops everything it started', async () => {
    assert.equal(child.exitCode, null, `still running before Ctrl-C: ${output.slice(-2000)}`);
    const pids = Object.values(childPids(output));
    assert.ok(pids.length >= 5, `every child named: ${JSON.stringify(pids)}`);
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGINT');
    const [code] = await exited;
    assert.equal(code, 0, output.slice(-2000));
    for (const pid of pids) assert.equal(isAlive(pid), false, `child ${pid} stopped`);
    await assert.rejects(fetch(`${base}/healthz`));
    await assert.rejects(fetch(`${simBase}/admin/health`));
  });
});
