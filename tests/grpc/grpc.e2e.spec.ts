// The gRPC API against the running system (`npm start` with real MariaDB,
// Redis, Kafka, FerretDB and the simulator): every RPC gives the same answer
// as its HTTP twin for the same input (one table runs both), Watch delivers
// every status change once and in order and resumes without loss or repeats,
// bad input is INVALID_ARGUMENT with nothing appended, another tenant's data
// is NOT_FOUND and a call without credentials UNAUTHENTICATED.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import {
  approvedBySuppliers,
  call,
  eventually,
  startSystem,
  type Reply,
  type RunningSystem,
} from '../support/system.ts';
import {
  connect,
  metadataOf,
  rawCall,
  type GrpcAnswer,
  type Obj,
  type StreamingClients,
} from './client.ts';

type Tenant = { token: string; username: string };

/** proto3 leaves default values out: so does the comparison, on both sides. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(normalise);
    return items.length === 0 ? undefined : items;
  }
  if (value !== null && typeof value === 'object') {
    const out: Obj = {};
    for (const [k, v] of Object.entries(value as Obj)) {
      const n = normalise(v);
      if (n !== undefined) out[k] = n;
    }
    return out;
  }
  if (value === null || value === 0 || value === false || value === '') return undefined;
  if (typeof value === 'string') {
    const m = /^(TEMPLATE_KIND|MESSAGE_STATUS)_([A-Z_]+)$/.exec(value);
    if (m) return m[2]!.toLowerCase();
  }
  return value;
}

const GRPC_CODE: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  410: 'FAILED_PRECONDITION',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
};
const grpcCodeFor = (status: number, code: string) =>
  status === 422
    ? /NOT_APPROVED$|OPTED_OUT$/.test(code)
      ? 'FAILED_PRECONDITION'
      : 'INVALID_ARGUMENT'
    : GRPC_CODE[status];

/** Same outcome: both succeed with equal bodies (less `ignore`), or fail with the same code, message and details. */
function assertTwins(http: Reply, rpc: GrpcAnswer, ignore: string[] = [], label = ''): void {
  const what = `${label}\nHTTP ${http.status} ${JSON.stringify(http.json)}\ngRPC ${JSON.stringify(rpc)}`;
  if (http.status < 300) {
    assert.ok(rpc.ok, what);
    const strip = (o: Obj) =>
      Object.fromEntries(Object.entries(o).filter(([k]) => !ignore.includes(k)));
    assert.deepEqual(normalise(strip(rpc.value)), normalise(strip(http.json)), what);
    return;
  }
  assert.ok(!rpc.ok, what);
  assert.equal(rpc.error.codeName, grpcCodeFor(http.status, String(http.json.code)), what);
  assert.equal(rpc.error.reason, http.json.code, what);
  assert.equal(rpc.error.message, http.json.message, what);
  assert.notEqual(rpc.error.codeName, 'UNKNOWN', what);
  for (const [k, v] of Object.entries((http.json.details ?? {}) as Obj)) {
    if (ignore.includes(k)) continue;
    assert.equal(
      rpc.error.metadata[k],
      typeof v === 'string' ? v : JSON.stringify(v),
      `${what}\ndetail ${k}`,
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FINAL = new Set(['delivered', 'undelivered', 'failed']);

describe('gRPC API (streaming.v1) against the running system', () => {
  let sys: RunningSystem;
  let g: StreamingClients;
  let alice: Tenant;
  let bob: Tenant;
  let aliceKey: string;
  let notice: string; // alice's approved notification template
  let otp: string; // alice's approved verification template
  let bobTemplate: string;

  const template = async (t: Tenant, body: Obj): Promise<string> => {
    const r = await call(`${sys.command}/v1/templates`, 'POST', body, t.token);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    return String(r.json.templateCode);
  };

  before(async () => {
    // this suite registers a handful of tenants per run, from one address
    process.env.STREAMING_REGISTER_MAX_PER_IP = '100000';
    sys = await startSystem('grpc', 18480);
    g = await connect(sys.grpc);
    alice = await sys.tenant();
    bob = await sys.tenant();
    const key = await call(`${sys.command}/v1/api-keys`, 'POST', { name: 'grpc' }, alice.token);
    assert.equal(key.status, 201);
    aliceKey = String(key.json.key);
    const sigA = `Ali${alice.username.slice(-4)}`;
    const sigB = `Bob${bob.username.slice(-4)}`;
    notice = await template(alice, {
      name: 'notice',
      kind: 'notification',
      signature: sigA,
      content: 'Hello ${name}, your order shipped.',
    });
    otp = await template(alice, {
      name: 'otp',
      kind: 'verification',
      signature: sigA,
      content: 'Your code is ${code}.',
    });
    bobTemplate = await template(bob, {
      name: 'bob',
      kind: 'notification',
      signature: sigB,
      content: 'Hi ${name}.',
    });
    await approvedBySuppliers(sys, alice.token, notice, sigA);
    await approvedBySuppliers(sys, alice.token, otp, sigA);
    await approvedBySuppliers(sys, bob.token, bobTemplate, sigB);
  });

  after(async () => {
    g?.close();
    await sys?.stop();
  });

  it('every RPC answers as its HTTP twin for the same input', async () => {
    const http = (
      method: string,
      base: string,
      path: string,
      body?: unknown,
      token = alice.token,
    ) => call(`${base}${path}`, method, body, token);
    let n = 0;
    const mobile = () => `+861390000${String(1000 + (n++ % 9000)).padStart(4, '0')}`;

    // Templates.Create / Update / Get / List -----------------------------------------------
    const createBody = {
      name: 'twin',
      kind: 'notification',
      signature: `Ali${alice.username.slice(-4)}`,
      content: 'Twin ${name}',
      policy: { mobile: { maxPerDay: 7 } },
      extendCode: '12',
    };
    const createGrpc = {
      ...createBody,
      kind: 'TEMPLATE_KIND_NOTIFICATION',
    };
    const hc = await http('POST', sys.command, '/v1/templates', createBody);
    const gc = await g.call('templates', 'Create', createGrpc, { token: alice.token });
    assertTwins(hc, gc, ['templateId', 'templateCode'], 'Templates.Create');
    const httpCode = String(hc.json.templateCode);
    const grpcCode = String((gc as { value: Obj }).value.templateCode);
    // the same template as either API created it, read through either API
    // compared once the simulated vendors reviewed both (a review changes the template)
    const reviewed = async (code: string) =>
      eventually(`template ${code} reviewed`, async () => {
        const r = await http('GET', sys.query, `/v1/templates/${code}`);
        const bindings = (r.json.bindings ?? []) as Obj[];
        return r.status === 200 && bindings.every((b) => b.status === 'approved') ? r : undefined;
      });
    await reviewed(httpCode);
    const hgot = await reviewed(grpcCode);
    assertTwins(
      hgot,
      await g.call('templates', 'Get', { templateCode: grpcCode }, { token: alice.token }),
      [],
      'Templates.Get',
    );
    const hOther = await http('GET', sys.query, `/v1/templates/${httpCode}`);
    // (the vendor template ids follow from the codes, the review from the simulator's pace)
    const sameParts = (t: Obj) => ({
      ...t,
      templateId: 0,
      templateCode: 0,
      createdAt: 0,
      updatedAt: 0,
      bindings: (t.bindings as Obj[]).map((b) => b.account),
    });
    assert.deepEqual(
      normalise(sameParts(hOther.json)),
      normalise(sameParts(hgot.json)),
      'created over HTTP and over gRPC: the same template',
    );

    const cases: {
      name: string;
      http: () => Promise<Reply>;
      grpc: () => Promise<GrpcAnswer>;
      ignore?: string[];
    }[] = [
      {
        name: 'Templates.Create without kind',
        http: () => http('POST', sys.command, '/v1/templates', { ...createBody, kind: undefined }),
        grpc: () =>
          g.call('templates', 'Create', { ...createGrpc, kind: undefined }, { token: alice.token }),
      },
      {
        name: 'Templates.Create with an unknown supplier',
        http: () =>
          http('POST', sys.command, '/v1/templates', { ...createBody, suppliers: ['nope'] }),
        grpc: () =>
          g.call(
            'templates',
            'Create',
            { ...createGrpc, suppliers: ['nope'] },
            { token: alice.token },
          ),
      },
      {
        name: 'Templates.Create with an impossible policy',
        http: () =>
          http('POST', sys.command, '/v1/templates', {
            ...createBody,
            policy: { mobile: { maxPerDay: -1 } },
          }),
        grpc: () =>
          g.call(
            'templates',
            'Create',
            { ...createGrpc, policy: { mobile: { maxPerDay: -1 } } },
            { token: alice.token },
          ),
      },
      {
        name: "Templates.Get of another tenant's template",
        http: () => http('GET', sys.query, `/v1/templates/${bobTemplate}`),
        grpc: () =>
          g.call('templates', 'Get', { templateCode: bobTemplate }, { token: alice.token }),
      },
      {
        name: 'Templates.List, first page of 2',
        http: () => http('GET', sys.query, '/v1/templates?limit=2'),
        grpc: () => g.call('templates', 'List', { limit: 2 }, { token: alice.token }),
      },
      {
        name: 'Templates.List of verification templates',
        http: () => http('GET', sys.query, '/v1/templates?kind=verification'),
        grpc: () =>
          g.call(
            'templates',
            'List',
            { kind: 'TEMPLATE_KIND_VERIFICATION' },
            { token: alice.token },
          ),
      },
      {
        name: "Templates.List of another tenant's",
        http: () =>
          http('GET', sys.query, `/v1/templates?tenant=${encodeURIComponent('someone-else')}`),
        grpc: () => g.call('templates', 'List', { tenant: 'someone-else' }, { token: alice.token }),
      },
      {
        name: 'Templates.List with a bad cursor',
        http: () => http('GET', sys.query, '/v1/templates?cursor=bad'),
        grpc: () => g.call('templates', 'List', { cursor: 'bad' }, { token: alice.token }),
      },
      // Messages.Send ------------------------------------------------------------------------
      {
        name: 'Messages.Send',
        http: () =>
          http('POST', sys.command, '/v1/messages', {
            templateCode: notice,
            mobile: mobile(),
            params: { name: 'Li' },
          }),
        grpc: () =>
          g.call(
            'messages',
            'Send',
            { templateCode: notice, mobile: mobile(), params: { name: 'Li' } },
            { token: alice.token },
          ),
        ignore: ['messageId', 'position'],
      },
      {
        name: 'Messages.Send with an API key',
        http: () =>
          http(
            'POST',
            sys.command,
            '/v1/messages',
            { templateCode: notice, mobile: mobile(), params: { name: '李' } },
            aliceKey,
          ),
        grpc: () =>
          g.call(
            'messages',
            'Send',
            { templateCode: notice, mobile: mobile(), params: { name: '李' } },
            { token: aliceKey },
          ),
        ignore: ['messageId', 'position'],
      },
      {
        name: 'Messages.Send with params that do not match',
        http: () =>
          http('POST', sys.command, '/v1/messages', {
            templateCode: notice,
            mobile: mobile(),
            params: { who: 'x' },
          }),
        grpc: () =>
          g.call(
            'messages',
            'Send',
            { templateCode: notice, mobile: mobile(), params: { who: 'x' } },
            { token: alice.token },
          ),
      },
      {
        name: 'Messages.Send to an invalid mobile',
        http: () =>
          http('POST', sys.command, '/v1/messages', {
            templateCode: notice,
            mobile: '12',
            params: { name: 'x' },
          }),
        grpc: () =>
          g.call(
            'messages',
            'Send',
            { templateCode: notice, mobile: '12', params: { name: 'x' } },
            { token: alice.token },
          ),
      },
      {
        name: "Messages.Send with another tenant's template",
        http: () =>
          http('POST', sys.command, '/v1/messages', {
            templateCode: bobTemplate,
            mobile: mobile(),
            params: { name: 'x' },
          }),
        grpc: () =>
          g.call(
            'messages',
            'Send',
            { templateCode: bobTemplate, mobile: mobile(), params: { name: 'x' } },
            { token: alice.token },
          ),
      },
      {
        name: 'Messages.Send without a mobile',
        http: () => http('POST', sys.command, '/v1/messages', { templateCode: notice }),
        grpc: () => g.call('messages', 'Send', { templateCode: notice }, { token: alice.token }),
      },
      {
        name: 'Messages.Send with a bad Idempotency-Key',
        http: () =>
          fetch(`${sys.command}/v1/messages`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${alice.token}`,
              'content-type': 'application/json',
              'idempotency-key': 'a b',
            },
            body: JSON.stringify({ templateCode: notice, mobile: mobile(), params: { name: 'x' } }),
          }).then(async (r) => ({ status: r.status, json: (await r.json()) as Obj })),
        grpc: () =>
          g.call(
            'messages',
            'Send',
            { templateCode: notice, mobile: mobile(), params: { name: 'x' } },
            { token: alice.token, metadata: { 'idempotency-key': 'a b' } },
          ),
      },
      {
        name: 'Messages.Send without credentials',
        http: () =>
          call(`${sys.command}/v1/messages`, 'POST', { templateCode: notice, mobile: mobile() }),
        grpc: () => g.call('messages', 'Send', { templateCode: notice, mobile: mobile() }),
      },
      {
        name: 'Messages.Send with a bad token',
        http: () =>
          call(
            `${sys.command}/v1/messages`,
            'POST',
            { templateCode: notice, mobile: mobile() },
            'not-a-token',
          ),
        grpc: () =>
          g.call(
            'messages',
            'Send',
            { templateCode: notice, mobile: mobile() },
            { token: 'not-a-token' },
          ),
      },
      // Messages.List / Get ------------------------------------------------------------------
      {
        name: 'Messages.List with a malformed cursor',
        http: () => http('GET', sys.query, '/v1/messages?cursor=xyz'),
        grpc: () => g.call('messages', 'List', { cursor: 'xyz' }, { token: alice.token }),
      },
      {
        name: 'Messages.List with a bad range',
        http: () =>
          http(
            'GET',
            sys.query,
            '/v1/messages?from=2026-01-02T00:00:00.000Z&to=2026-01-01T00:00:00.000Z',
          ),
        grpc: () =>
          g.call(
            'messages',
            'List',
            { from: '2026-01-02T00:00:00.000Z', to: '2026-01-01T00:00:00.000Z' },
            { token: alice.token },
          ),
      },
      {
        name: "Messages.List of another tenant's",
        http: () => http('GET', sys.query, '/v1/messages?tenant=someone-else'),
        grpc: () => g.call('messages', 'List', { tenant: 'someone-else' }, { token: alice.token }),
      },
      {
        name: 'Messages.List with a page size over the maximum',
        http: () => http('GET', sys.query, '/v1/messages?limit=1000'),
        grpc: () => g.call('messages', 'List', { limit: 1000 }, { token: alice.token }),
      },
      {
        name: 'Messages.Get of a message that does not exist',
        http: () => http('GET', sys.query, '/v1/messages/00000000-0000-4000-8000-000000000000'),
        grpc: () =>
          g.call(
            'messages',
            'Get',
            { messageId: '00000000-0000-4000-8000-000000000000' },
            { token: alice.token },
          ),
      },
      {
        name: 'Messages.Get at a position beyond the store',
        http: () =>
          http(
            'GET',
            sys.query,
            '/v1/messages/00000000-0000-4000-8000-000000000000?after=999999999',
          ),
        grpc: () =>
          g.call(
            'messages',
            'Get',
            { messageId: '00000000-0000-4000-8000-000000000000', after: 999999999 },
            { token: alice.token },
          ),
      },
      // Verifications ------------------------------------------------------------------------
      {
        name: 'Verifications.Send',
        http: () =>
          http('POST', sys.command, '/v1/verifications', { templateCode: otp, mobile: mobile() }),
        grpc: () =>
          g.call(
            'verifications',
            'Send',
            { templateCode: otp, mobile: mobile() },
            { token: alice.token },
          ),
        ignore: ['messageId', 'position', 'expiresAt'],
      },
      {
        name: 'Verifications.Send with a notification template',
        http: () =>
          http('POST', sys.command, '/v1/verifications', {
            templateCode: notice,
            mobile: mobile(),
          }),
        grpc: () =>
          g.call(
            'verifications',
            'Send',
            { templateCode: notice, mobile: mobile() },
            { token: alice.token },
          ),
      },
      {
        name: 'Verifications.Check when no code was sent',
        http: () =>
          http('POST', sys.command, '/v1/verifications/check', {
            templateCode: otp,
            mobile: '+8613900001111',
            code: '123456',
          }),
        grpc: () =>
          g.call(
            'verifications',
            'Check',
            { templateCode: otp, mobile: '+8613900001111', code: '123456' },
            { token: alice.token },
          ),
      },
      {
        name: 'Verifications.Check with a code that is no number',
        http: () =>
          http('POST', sys.command, '/v1/verifications/check', {
            templateCode: otp,
            mobile: '+8613900001111',
            code: 'abc',
          }),
        grpc: () =>
          g.call(
            'verifications',
            'Check',
            { templateCode: otp, mobile: '+8613900001111', code: 'abc' },
            { token: alice.token },
          ),
      },
      {
        name: 'Templates.Update (content)',
        http: () =>
          http('PATCH', sys.command, `/v1/templates/${httpCode}`, { content: 'New ${name}' }),
        grpc: () =>
          g.call(
            'templates',
            'Update',
            { templateCode: grpcCode, content: 'New ${name}' },
            { token: alice.token },
          ),
        ignore: ['templateCode', 'version'], // the reviews append to the stream meanwhile
      },
      {
        name: 'Templates.Update removes the extension code',
        http: () => http('PATCH', sys.command, `/v1/templates/${httpCode}`, { extendCode: null }),
        grpc: () =>
          g.call(
            'templates',
            'Update',
            { templateCode: grpcCode, removeExtendCode: true },
            { token: alice.token },
          ),
        ignore: ['templateCode', 'version'], // the reviews append to the stream meanwhile
      },
      {
        name: "Templates.Update of another tenant's template",
        http: () =>
          http('PATCH', sys.command, `/v1/templates/${bobTemplate}`, { content: 'x ${name}' }),
        grpc: () =>
          g.call(
            'templates',
            'Update',
            { templateCode: bobTemplate, content: 'x ${name}' },
            { token: alice.token },
          ),
      },
      {
        name: 'Templates.Update with nothing to change',
        http: () => http('PATCH', sys.command, `/v1/templates/${httpCode}`, {}),
        grpc: () =>
          g.call('templates', 'Update', { templateCode: grpcCode }, { token: alice.token }),
      },
    ];
    for (const c of cases) assertTwins(await c.http(), await c.grpc(), c.ignore, c.name);

    // a wrong code: both answer VERIFICATION_CODE_WRONG with the attempts left (each for its own code)
    const m1 = mobile();
    const m2 = mobile();
    assert.equal(
      (await http('POST', sys.command, '/v1/verifications', { templateCode: otp, mobile: m1 }))
        .status,
      202,
    );
    assert.ok(
      (
        await g.call(
          'verifications',
          'Send',
          { templateCode: otp, mobile: m2 },
          { token: alice.token },
        )
      ).ok,
    );
    assertTwins(
      await http('POST', sys.command, '/v1/verifications/check', {
        templateCode: otp,
        mobile: m1,
        code: '0000000',
      }),
      await g.call(
        'verifications',
        'Check',
        { templateCode: otp, mobile: m2, code: '0000000' },
        { token: alice.token },
      ),
      [],
      'Verifications.Check with a wrong code',
    );

    // an Idempotency-Key first used over HTTP: gRPC gets the first answer, not a second message
    const key = `twin-${Date.now()}`;
    const body = { templateCode: notice, mobile: mobile(), params: { name: 'Idem' } };
    const first = await fetch(`${sys.command}/v1/messages`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice.token}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    });
    assert.equal(first.status, 202);
    const again = await g.call('messages', 'Send', body, {
      token: alice.token,
      metadata: { 'idempotency-key': key },
    });
    assertTwins(
      { status: 202, json: (await first.json()) as Obj },
      again,
      [],
      'Messages.Send, repeated with its key',
    );
    const reused = await g.call(
      'messages',
      'Send',
      { ...body, params: { name: 'Other' } },
      {
        token: alice.token,
        metadata: { 'idempotency-key': key },
      },
    );
    assert.ok(
      !reused.ok && reused.error.reason === 'IDEMPOTENCY_KEY_REUSED',
      JSON.stringify(reused),
    );

    // a message read through both APIs once it is final; pages and cursors agree (once
    // every message of the template is final, so that nothing moves between the two reads)
    const sent = await g.call(
      'messages',
      'Send',
      { templateCode: notice, mobile: mobile(), params: { name: 'Get' } },
      { token: alice.token },
    );
    assert.ok(sent.ok);
    const id = String(sent.value.messageId);
    await eventually('the message to be final', async () => {
      // the history row and the timeline are two projections: wait for both to be final
      const r = await http('GET', sys.query, `/v1/messages/${id}`);
      const states = ((r.json.timeline as Obj | undefined)?.states ?? []) as Obj[];
      return r.status === 200 &&
        FINAL.has(String(r.json.status)) &&
        states.some((s) => s.status === r.json.status)
        ? true
        : undefined;
    });
    assertTwins(
      await http('GET', sys.query, `/v1/messages/${id}?after=${String(sent.value.position)}`),
      await g.call(
        'messages',
        'Get',
        { messageId: id, after: sent.value.position },
        { token: alice.token },
      ),
      [],
      'Messages.Get',
    );
    assertTwins(
      await http('GET', sys.query, `/v1/messages/${id}`, undefined, bob.token),
      await g.call('messages', 'Get', { messageId: id }, { token: bob.token }),
      [],
      "Messages.Get of another tenant's message",
    );
    const bobGet = await g.call('messages', 'Get', { messageId: id }, { token: bob.token });
    assert.ok(!bobGet.ok && bobGet.error.codeName === 'NOT_FOUND');
    await eventually('every message of the template final', async () => {
      const r = await http('GET', sys.query, `/v1/messages?limit=200&template=${notice}`);
      const items = (r.json.items ?? []) as Obj[];
      return r.status === 200 && items.length > 0 && items.every((m) => FINAL.has(String(m.status)))
        ? true
        : undefined;
    });
    // pages of 3: the same items; the cursor of either API works on the other
    const hp1 = await http('GET', sys.query, `/v1/messages?limit=3&template=${notice}`);
    const gp1 = await g.call(
      'messages',
      'List',
      { limit: 3, template: notice },
      { token: alice.token },
    );
    assertTwins(hp1, gp1, [], 'Messages.List page 1');
    assert.ok(gp1.ok && typeof gp1.value.nextCursor === 'string');
    const cursor = String(gp1.value.nextCursor);
    assertTwins(
      await http('GET', sys.query, `/v1/messages?limit=3&template=${notice}&cursor=${cursor}`),
      await g.call(
        'messages',
        'List',
        { limit: 3, template: notice, cursor: String(hp1.json.nextCursor) },
        { token: alice.token },
      ),
      [],
      'Messages.List page 2',
    );
    assertTwins(
      await http('GET', sys.query, `/v1/messages?status=delivered&limit=5&template=${notice}`),
      await g.call(
        'messages',
        'List',
        { status: 'MESSAGE_STATUS_DELIVERED', limit: 5, template: notice },
        { token: alice.token },
      ),
      [],
      'Messages.List of delivered messages',
    );
  });

  it('SendBatch and Cancel answer as their HTTP twins', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const recipients = (base: number) => [
      { mobile: `+8613700${base}01`, params: { name: 'A' } },
      { mobile: '12', params: { name: 'B' } },
      { mobile: `+8613700${base}03`, params: { wrong: 'C' } },
    ];
    const hb = await call(
      `${sys.command}/v1/messages/batch`,
      'POST',
      { templateCode: notice, recipients: recipients(1000), sendAt: later },
      alice.token,
    );
    const gb = await g.call(
      'messages',
      'SendBatch',
      { templateCode: notice, recipients: recipients(2000), sendAt: later },
      { token: alice.token },
    );
    const shape = (answer: Obj) => ({
      ...answer,
      batchId: 0,
      results: (answer.results as Obj[]).map((r) => {
        const { messageId: _m, position: _p, mobile: _mo, detailsJson, details, ...rest } = r;
        return {
          ...rest,
          details: detailsJson === undefined ? details : JSON.parse(String(detailsJson)),
        };
      }),
    });
    assert.equal(hb.status, 200, JSON.stringify(hb.json));
    assert.ok(gb.ok, JSON.stringify(gb));
    assert.deepEqual(normalise(shape(gb.value)), normalise(shape(hb.json)), 'Messages.SendBatch');
    assertTwins(
      await call(
        `${sys.command}/v1/messages/batch`,
        'POST',
        { templateCode: notice, recipients: [] },
        alice.token,
      ),
      await g.call('messages', 'SendBatch', { templateCode: notice }, { token: alice.token }),
      [],
      'Messages.SendBatch without recipients',
    );
    assertTwins(
      await call(
        `${sys.command}/v1/messages/batch`,
        'POST',
        { templateCode: bobTemplate, recipients: recipients(3000) },
        alice.token,
      ),
      await g.call(
        'messages',
        'SendBatch',
        { templateCode: bobTemplate, recipients: recipients(3000) },
        { token: alice.token },
      ),
      [],
      "Messages.SendBatch with another tenant's template",
    );
    // scheduled sends, cancelled through either API
    const scheduled = async () => {
      const r = await g.call(
        'messages',
        'Send',
        {
          templateCode: notice,
          mobile: `+86137009${String(Date.now()).slice(-5)}`,
          params: { name: 'S' },
          sendAt: later,
        },
        { token: alice.token },
      );
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(typeof r.value.sendAt === 'string');
      return String(r.value.messageId);
    };
    const [one, two] = [await scheduled(), await scheduled()];
    assertTwins(
      await call(`${sys.command}/v1/messages/${one}/cancel`, 'POST', undefined, alice.token),
      await g.call('messages', 'Cancel', { messageId: two }, { token: alice.token }),
      ['messageId', 'cancelledAt'],
      'Messages.Cancel',
    );
    assertTwins(
      await call(`${sys.command}/v1/messages/${one}/cancel`, 'POST', undefined, bob.token),
      await g.call('messages', 'Cancel', { messageId: two }, { token: bob.token }),
      [],
      "Messages.Cancel of another tenant's message",
    );
    assertTwins(
      await call(`${sys.command}/v1/messages/nope/cancel`, 'POST', undefined, alice.token),
      await g.call('messages', 'Cancel', { messageId: 'nope' }, { token: alice.token }),
      [],
      'Messages.Cancel of no message',
    );
    assertTwins(
      await call(
        `${sys.command}/v1/messages`,
        'POST',
        {
          templateCode: notice,
          mobile: '+8613700900001',
          params: { name: 'x' },
          sendAt: '2020-01-01T00:00:00Z',
        },
        alice.token,
      ),
      await g.call(
        'messages',
        'Send',
        {
          templateCode: notice,
          mobile: '+8613700900001',
          params: { name: 'x' },
          sendAt: '2020-01-01T00:00:00Z',
        },
        { token: alice.token },
      ),
      ['now'], // the time of each refusal
      'Messages.Send at a time in the past',
    );
  });

  it('Messages.Send statusCallback: checked as on HTTP, and the URL is told of the statuses', async () => {
    // a receiver for the sends' own statusCallback (private addresses are allowed outside production)
    const got: Obj[] = [];
    const receiver = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        try {
          got.push(JSON.parse(text) as Obj);
        } catch {
          // not JSON: not ours to judge here
        }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const body = (mobile: string, statusCallback: string) => ({
      templateCode: notice,
      mobile,
      params: { name: 'Cb' },
      statusCallback,
    });
    try {
      const h = await call(
        `${sys.command}/v1/messages`,
        'POST',
        body('+8613600000101', url),
        alice.token,
      );
      const r = await g.call('messages', 'Send', body('+8613600000102', url), {
        token: alice.token,
      });
      assertTwins(h, r, ['messageId', 'position'], 'Messages.Send with a statusCallback');
      assert.ok(r.ok);
      // the same refusals, with the same code, message and details
      const bad = [
        'not a url',
        'ftp://example.com/hook',
        `https://example.com/${'x'.repeat(2100)}`,
      ];
      for (const [i, statusCallback] of bad.entries()) {
        const m = `+86136000002${String(i).padStart(2, '0')}`;
        assertTwins(
          await call(`${sys.command}/v1/messages`, 'POST', body(m, statusCallback), alice.token),
          await g.call('messages', 'Send', body(m, statusCallback), { token: alice.token }),
          [],
          `Messages.Send with statusCallback ${statusCallback.slice(0, 30)}`,
        );
      }
      // each send's own URL hears of its message, the gRPC one as the HTTP one
      await eventually(
        'both messages reported to their statusCallback',
        async () => {
          const ids = new Set(got.map((x) => (x.data as Obj | undefined)?.messageId));
          return ids.has(h.json.messageId) && ids.has(r.value.messageId) ? true : undefined;
        },
        120_000,
      );
    } finally {
      receiver.close();
    }
  });

  it('limits answer RESOURCE_EXHAUSTED with RetryInfo, as HTTP answers 429 with Retry-After', async () => {
    const code = await template(alice, {
      name: 'slow',
      kind: 'notification',
      signature: `Ali${alice.username.slice(-4)}`,
      content: 'Slow ${name}',
      policy: { mobile: { minIntervalSeconds: 600 } },
    });
    await approvedBySuppliers(sys, alice.token, code, `Ali${alice.username.slice(-4)}`);
    const body = { templateCode: code, mobile: '+8613911112222', params: { name: 'x' } };
    assert.equal((await call(`${sys.command}/v1/messages`, 'POST', body, alice.token)).status, 202);
    const res = await fetch(`${sys.command}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Obj;
    const rpc = await g.call('messages', 'Send', body, { token: alice.token });
    assertTwins({ status: res.status, json }, rpc, [], 'Messages.Send over a limit');
    assert.ok(!rpc.ok);
    assert.equal(rpc.error.codeName, 'RESOURCE_EXHAUSTED');
    assert.ok(
      rpc.error.retryDelaySeconds !== undefined && rpc.error.retryDelaySeconds > 0,
      JSON.stringify(rpc.error),
    );
    // computed a few milliseconds apart: at most a second's difference
    assert.ok(Math.abs(rpc.error.retryDelaySeconds - Number(res.headers.get('retry-after'))) <= 1);
  });

  it('bad input is INVALID_ARGUMENT and appends nothing', async () => {
    const carol = await sys.tenant();
    const carolTemplate = await template(carol, {
      name: 'carol',
      kind: 'notification',
      signature: `Car${carol.username.slice(-4)}`,
      content: 'Hi ${name}',
    });
    await approvedBySuppliers(sys, carol.token, carolTemplate, `Car${carol.username.slice(-4)}`);
    const invalid = (answer: GrpcAnswer, reason: string, label: string) => {
      assert.ok(!answer.ok, `${label}: ${JSON.stringify(answer)}`);
      assert.equal(
        answer.error.codeName,
        'INVALID_ARGUMENT',
        `${label}: ${JSON.stringify(answer.error)}`,
      );
      assert.equal(answer.error.reason, reason, `${label}: ${JSON.stringify(answer.error)}`);
    };
    // malformed protobuf: a string field whose length runs past the end; a truncated varint
    invalid(
      await rawCall(
        g.messages,
        '/streaming.v1.Messages/Send',
        Buffer.from([0x0a, 0x40, 0x54, 0x31]),
        carol.token,
      ),
      'BAD_REQUEST',
      'truncated field',
    );
    invalid(
      await rawCall(
        g.messages,
        '/streaming.v1.Messages/Send',
        Buffer.from([0x10, 0xff, 0xff]),
        carol.token,
      ),
      'BAD_REQUEST',
      'truncated varint',
    );
    invalid(
      await rawCall(
        g.templates,
        '/streaming.v1.Templates/Create',
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        carol.token,
      ),
      'BAD_REQUEST',
      'garbage',
    );
    // missing fields
    invalid(
      await g.call('messages', 'Send', {}, { token: carol.token }),
      'VALIDATION_FAILED',
      'empty Send',
    );
    invalid(
      await g.call('messages', 'Send', { mobile: '+8613900002222' }, { token: carol.token }),
      'VALIDATION_FAILED',
      'no template',
    );
    invalid(
      await g.call('messages', 'Get', {}, { token: carol.token }),
      'VALIDATION_FAILED',
      'Get without id',
    );
    invalid(
      await g.call('templates', 'Update', { content: 'x' }, { token: carol.token }),
      'VALIDATION_FAILED',
      'Update without code',
    );
    invalid(
      await g.call(
        'templates',
        'Create',
        { name: 'x', signature: 'Sig', content: 'y' },
        { token: carol.token },
      ),
      'VALIDATION_FAILED',
      'Create without kind',
    );
    // oversized: over STREAMING_BODY_LIMIT (100kb by default)
    invalid(
      await g.call(
        'messages',
        'Send',
        {
          templateCode: carolTemplate,
          mobile: '+8613900002222',
          params: { name: 'x'.repeat(150 * 1024) },
        },
        { token: carol.token },
      ),
      'BODY_TOO_LARGE',
      'oversized Send',
    );
    // unknown enum values
    invalid(
      await g.call(
        'templates',
        'Create',
        { name: 'x', kind: 42, signature: 'Sig', content: 'y' },
        { token: carol.token },
      ),
      'VALIDATION_FAILED',
      'unknown kind',
    );
    invalid(
      await g.call('messages', 'List', { status: 99 }, { token: carol.token }),
      'VALIDATION_FAILED',
      'unknown status',
    );
    invalid(
      await g.call('templates', 'List', { kind: 7 }, { token: carol.token }),
      'VALIDATION_FAILED',
      'unknown kind filter',
    );
    // a value the schema refuses (a param over 500 characters)
    invalid(
      await g.call(
        'messages',
        'Send',
        {
          templateCode: carolTemplate,
          mobile: '+8613900002222',
          params: { name: 'y'.repeat(501) },
        },
        { token: carol.token },
      ),
      'VALIDATION_FAILED',
      'long param',
    );
    // nothing was appended: after one good send, carol has exactly that message and that template
    const good = await g.call(
      'messages',
      'Send',
      { templateCode: carolTemplate, mobile: '+8613900002222', params: { name: 'ok' } },
      { token: carol.token },
    );
    assert.ok(good.ok, JSON.stringify(good));
    const list = await g.call(
      'messages',
      'List',
      { after: good.value.position },
      { token: carol.token },
    );
    assert.ok(list.ok, JSON.stringify(list));
    assert.deepEqual(
      ((list.value.items ?? []) as Obj[]).map((m) => m.messageId),
      [good.value.messageId],
    );
    const templates = await g.call(
      'templates',
      'List',
      { after: good.value.position },
      { token: carol.token },
    );
    assert.ok(templates.ok);
    assert.deepEqual(
      ((templates.value.items ?? []) as Obj[]).map((t) => t.templateCode),
      [carolTemplate],
    );
  });

  it('no credentials: UNAUTHENTICATED on every RPC; health and reflection need none', async () => {
    const calls: [Parameters<StreamingClients['call']>[0], string, Obj][] = [
      ['messages', 'Send', { templateCode: notice, mobile: '+8613900003333' }],
      ['messages', 'SendBatch', {}],
      ['messages', 'Get', { messageId: 'x' }],
      ['messages', 'List', {}],
      ['messages', 'Cancel', { messageId: 'x' }],
      ['verifications', 'Send', { templateCode: otp, mobile: '+8613900003333' }],
      ['verifications', 'Check', { templateCode: otp, mobile: '+8613900003333', code: '1' }],
      ['templates', 'Create', {}],
      ['templates', 'Update', { templateCode: notice }],
      ['templates', 'Get', { templateCode: notice }],
      ['templates', 'List', {}],
    ];
    for (const [service, method, request] of calls) {
      const answer = await g.call(service, method, request);
      assert.ok(!answer.ok, `${method}: ${JSON.stringify(answer)}`);
      assert.equal(answer.error.codeName, 'UNAUTHENTICATED', `${service}.${method}`);
      assert.equal(answer.error.reason, 'UNAUTHENTICATED');
    }
    const watch = g.messages.makeServerStreamRequest(
      '/streaming.v1.Messages/Watch',
      () => Buffer.alloc(0),
      (b: Buffer) => b,
      {},
      metadataOf(undefined),
    );
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      watch.on('error', resolve);
      watch.on('data', () => undefined);
    });
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);

    // grpc.health.v1, as a load balancer asks it
    const healthProto = fileURLToPath(
      new URL('../../node_modules/grpc-health-check/proto/health/v1/health.proto', import.meta.url),
    );
    const health = grpc.loadPackageDefinition(
      protoLoader.loadSync(healthProto, { enums: String }),
    ) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    const client = new health.grpc.health.v1.Health(sys.grpc, grpc.credentials.createInsecure());
    for (const service of ['', 'streaming.v1.Messages']) {
      const answer = await new Promise<Obj>((resolve, reject) =>
        (
          client as unknown as { check: (r: Obj, cb: (e: Error | null, v: Obj) => void) => void }
        ).check({ service }, (e, v) => (e ? reject(e) : resolve(v))),
      );
      assert.equal(answer.status, 'SERVING', service);
    }
    client.close();
  });

  it('Watch: 200 sends → every status change once, in order; a resume loses and repeats nothing', async () => {
    const start = await g.call(
      'messages',
      'Send',
      { templateCode: notice, mobile: '+8613800009999', params: { name: 'start' } },
      { token: alice.token },
    );
    assert.ok(start.ok, JSON.stringify(start));
    const from = Number(start.value.position);

    type Change = { position: number; messageId: string; status: string; version: number };
    const watch = (after: number, onChange: (c: Change) => void) => {
      const stream = g.messages.makeServerStreamRequest(
        '/streaming.v1.Messages/Watch',
        (r: Obj) => Buffer.from(r.bytes as Uint8Array),
        (b: Buffer) => b,
        { bytes: encodeWatch(after) },
        metadataOf(alice.token),
      ) as grpc.ClientReadableStream<Buffer>;
      stream.on('data', (b: Buffer) => {
        const item = decodeWatch(b);
        if (item.change) onChange(item.change as Change);
      });
      stream.on('error', () => undefined);
      return stream;
    };
    const reference: Change[] = [];
    const interrupted: Change[] = [];
    const refStream = watch(from, (c) => reference.push(c));
    let firstActive = true;
    let firstHalf: grpc.ClientReadableStream<Buffer> | undefined = watch(from, (c) => {
      if (firstActive) interrupted.push(c); // what the client handled before it went away
    });
    let resumed: grpc.ClientReadableStream<Buffer> | undefined;
    await sleep(500);

    // 200 sends by alice (10 at a time), and some by bob that alice must never see
    const ids: string[] = [];
    const bobIds: string[] = [];
    const sendAll = async () => {
      for (let i = 0; i < 200; i += 10) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            g.call(
              'messages',
              'Send',
              {
                templateCode: notice,
                mobile: `+86138${String(10_000_000 + i + j).slice(-8)}`,
                params: { name: `n${i + j}` },
              },
              { token: alice.token },
            ),
          ),
        );
        for (const r of batch) {
          assert.ok(r.ok, JSON.stringify(r));
          ids.push(String(r.value.messageId));
        }
        if (i % 50 === 0) {
          const b = await g.call(
            'messages',
            'Send',
            { templateCode: bobTemplate, mobile: `+861370000${1000 + i}`, params: { name: 'b' } },
            { token: bob.token },
          );
          assert.ok(b.ok, JSON.stringify(b));
          bobIds.push(String(b.value.messageId));
        }
        // half way: the client goes away, and comes back from its last position
        if (i === 100 && firstHalf) {
          await sleep(300);
          firstActive = false;
          firstHalf.cancel();
          firstHalf = undefined;
          const last = interrupted.at(-1)?.position ?? from;
          await sleep(200);
          resumed = watch(last, (c) => interrupted.push(c));
        }
      }
    };
    await sendAll();
    const mine = new Set([start.value.messageId as string, ...ids]);
    const finalOf = (list: Change[]) => {
      const done = new Set<string>();
      for (const c of list)
        if (FINAL.has(c.status.replace('MESSAGE_STATUS_', '').toLowerCase())) done.add(c.messageId);
      return done;
    };
    // every message accepted in both watches, and dispatched (some later change) as far as
    // the machine manages within two minutes: the checks below hold whatever the pace
    await eventually(
      'every message accepted in both watches',
      async () => {
        const seen = (list: Change[]) => new Set(list.map((c) => c.messageId));
        const a = seen(reference);
        const b = seen(interrupted);
        return ids.every((id) => a.has(id) && b.has(id)) ? true : undefined;
      },
      120_000,
    );
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && ids.some((id) => !finalOf(reference).has(id))) await sleep(500);
    await sleep(1000);
    refStream.cancel();
    resumed?.cancel();
    await sleep(200);

    // each change once, in order of position; only alice's messages
    const positions = reference.map((c) => c.position);
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
    );
    assert.equal(new Set(positions).size, positions.length, 'no change twice');
    for (const c of reference) assert.ok(mine.has(c.messageId), `a foreign message ${c.messageId}`);
    for (const id of bobIds) assert.ok(!reference.some((c) => c.messageId === id));
    assert.ok(
      reference.some((c) => c.status !== 'MESSAGE_STATUS_ACCEPTED'),
      'some message got past acceptance while watched',
    );
    // the interrupted watch and its resume: exactly the unbroken one (up to where both got)
    const upTo = Math.min(reference.at(-1)!.position, interrupted.at(-1)!.position);
    assert.deepEqual(
      interrupted.filter((c) => c.position <= upTo),
      reference.filter((c) => c.position <= upTo),
      'disconnect and resume: the same changes as an unbroken watch',
    );
    // and every change, in order per message, is what the message's timeline records
    const byMessage = new Map<string, Change[]>();
    for (const c of reference)
      byMessage.set(c.messageId, [...(byMessage.get(c.messageId) ?? []), c]);
    for (const id of ids) {
      const changes = byMessage.get(id) ?? [];
      const versions = changes.map((c) => c.version);
      assert.deepEqual(
        versions,
        [...versions].sort((a, b) => a - b),
        id,
      );
      // Watch's HTTP twin: the message's timeline on GET /v1/messages/{id}
      const got = await eventually(`message ${id} in the read models`, async () => {
        const r = await call(
          `${sys.query}/v1/messages/${id}?after=${reference.at(-1)!.position}`,
          'GET',
          undefined,
          alice.token,
        );
        return r.status === 200 ? r : undefined; // 503 READ_MODEL_LAGGING: they catch up
      });
      const states = ((got.json.timeline as Obj).states as Obj[])
        .map((s) => ({ status: s.status, position: s.position }))
        .filter((s) => Number(s.position) <= reference.at(-1)!.position);
      assert.deepEqual(
        changes.map((c) => ({
          status: c.status.replace('MESSAGE_STATUS_', '').toLowerCase(),
          position: c.position,
        })),
        states,
        `message ${id}: the watch saw its timeline`,
      );
    }
  });
});

// Watch requests and responses through the contract's own codec (the client above is untyped)
const watchTypes = (() => {
  const def = protoLoader.loadSync(
    fileURLToPath(new URL('../../schemas/grpc/streaming/v1/messages.proto', import.meta.url)),
    {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: false,
      oneofs: false,
      includeDirs: [fileURLToPath(new URL('../../schemas/grpc/', import.meta.url))],
    },
  );
  const watch = (def['streaming.v1.Messages'] as protoLoader.ServiceDefinition).Watch!;
  return watch;
})();
const encodeWatch = (after: number): Uint8Array =>
  watchTypes.requestSerialize({ afterPosition: after });
const decodeWatch = (b: Buffer): Obj => watchTypes.responseDeserialize(b) as Obj;
