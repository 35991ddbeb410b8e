// A mixed workload for read-side tests: users, templates (created, updated,
// disabled, enabled), messages in every outcome, inbound messages and opt-outs.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Actor, MysqlEventStore, NewEvent } from '../platform/eventStore/index.ts';

const actor = (id: string): Actor => ({ type: 'user', id });
const sys: Actor = { type: 'system', id: 'dispatcher' };
const policy = { mobile: { maxPerHour: 5 } };

export interface Workload {
  tenants: string[];
  messages: string[];
  templates: { id: string; code: string; tenant: string }[];
  lastPosition: number;
}

function ts(base: number, i: number): string {
  return new Date(base + i * 1000).toISOString();
}

const reason = (code: string) => ({ code, message: `${code} happened` });

/** Appends to the store with one clock: each event (and each time in its data) a second later. */
class Writer {
  clock = 0;
  last = 0;
  readonly store: MysqlEventStore;
  readonly base: number;

  constructor(store: MysqlEventStore, base: number) {
    this.store = store;
    this.base = base;
  }

  /** The next second on the clock. */
  tick(): string {
    return ts(this.base, this.clock++);
  }

  /** `seconds` after the clock, without moving it. */
  ahead(seconds: number): string {
    return ts(this.base, this.clock + seconds);
  }

  ev(type: string, data: Record<string, unknown>, who = sys): NewEvent {
    return {
      type,
      data,
      metadata: { actor: who, timestamp: this.tick(), requestId: randomUUID() },
    };
  }

  async put(stream: string, events: NewEvent[], expected: 'no_stream' | 'any' = 'any') {
    const r = await this.store.append(stream, events, expected);
    this.last = r.position;
    return r;
  }
}

/** A tenant: its user and one template of each kind. */
async function appendTenant(w: Writer, t: number, templates: Workload['templates']) {
  const userId = randomUUID();
  const username = `tenant${t}_${randomBytes(3).toString('hex')}`;
  await w.put(
    `username-${username}`,
    [w.ev('username.reserved.v1', { username, userId }, actor(userId))],
    'no_stream',
  );
  await w.put(`user-${userId}`, [
    w.ev(
      'user.registered.v1',
      { userId, username, passwordHash: 'scrypt$secret', role: t === 0 ? 'admin' : 'member' },
      actor(userId),
    ),
  ]);
  for (const kind of ['notification', 'verification'] as const) {
    const id = randomUUID();
    const code = `${kind.slice(0, 4)}_${randomBytes(3).toString('hex')}`;
    templates.push({ id, code, tenant: userId });
    await w.put(`template-${id}`, [
      w.ev(
        'template.created.v1',
        {
          templateId: id,
          templateCode: code,
          tenantId: userId,
          name: `${kind} template`,
          kind,
          signature: 'Acme',
          content: kind === 'verification' ? 'Your code is ${code}' : 'Hello ${name}',
          suppliers: ['aliyun-main', 'tencent-main'],
          policy,
          ...(kind === 'verification'
            ? { verification: { codeLength: 6, ttlSeconds: 300, maxAttempts: 3 } }
            : { extendCode: `1${t}` }),
        },
        actor(userId),
      ),
    ]);
  }
  return userId;
}

/** Updates, disables and enables some templates. */
async function appendTemplateChanges(w: Writer, templates: Workload['templates']) {
  const t0 = templates[0]!;
  await w.put(`template-${t0.id}`, [
    w.ev(
      'template.updated.v1',
      { templateCode: t0.code, content: 'Hi ${name}!', extendCode: '77' },
      actor(t0.tenant),
    ),
  ]);
  // the second tenant's notification template loses its extension code
  const t2 = templates[2];
  if (t2) {
    await w.put(`template-${t2.id}`, [
      w.ev('template.updated.v1', { templateCode: t2.code, extendCode: null }, actor(t2.tenant)),
    ]);
  }
  const t1 = templates[1]!;
  await w.put(`template-${t1.id}`, [
    w.ev('template.disabled.v1', { templateCode: t1.code }, actor(t1.tenant)),
  ]);
  await w.put(`template-${t1.id}`, [
    w.ev('template.enabled.v1', { templateCode: t1.code }, actor(t1.tenant)),
  ]);
  const tLast = templates[templates.length - 1]!;
  await w.put(`template-${tLast.id}`, [
    w.ev('template.disabled.v1', { templateCode: tLast.code }, actor(tLast.tenant)),
  ]);
}

/** The events after a message's acceptance, one shape for each `i % 8`. */
type Outcome = (w: Writer, stream: string, messageId: string, sid: string) => Promise<void>;

const submitted =
  (supplierAccount: string, extra: Record<string, unknown>) =>
  (w: Writer, stream: string, messageId: string, sid: string) =>
    w.put(stream, [
      w.ev('sms.submitted.v1', { messageId, supplierAccount, supplierMessageId: sid, ...extra }),
    ]);

const delivered =
  (supplierAccount: string) => (w: Writer, stream: string, messageId: string, sid: string) =>
    w.put(stream, [
      w.ev('sms.delivered.v1', {
        messageId,
        supplierAccount,
        supplierMessageId: sid,
        deliveredAt: w.tick(),
      }),
    ]);

const OUTCOMES: Outcome[] = [
  // 0: submitted and delivered
  async (w, stream, messageId, sid) => {
    await submitted('aliyun-main', { attempt: 1, latencyMs: 12 })(w, stream, messageId, sid);
    await delivered('aliyun-main')(w, stream, messageId, sid);
  },
  // 1: submitted, undelivered
  async (w, stream, messageId, sid) => {
    await submitted('aliyun-main', { attempt: 1 })(w, stream, messageId, sid);
    await w.put(stream, [
      w.ev('sms.undelivered.v1', {
        messageId,
        supplierAccount: 'aliyun-main',
        supplierMessageId: sid,
        reason: reason('EXPIRED'),
      }),
    ]);
  },
  // 2: failed over, then submitted and delivered
  async (w, stream, messageId, sid) => {
    await w.put(stream, [
      w.ev('sms.failed-over.v1', {
        messageId,
        fromAccount: 'aliyun-main',
        toAccount: 'tencent-main',
        reason: reason('REJECTED'),
      }),
    ]);
    await submitted('tencent-main', { attempt: 2 })(w, stream, messageId, sid);
    await delivered('tencent-main')(w, stream, messageId, sid);
  },
  // 3: failed for good
  async (w, stream, messageId) => {
    await w.put(stream, [
      w.ev('sms.failed.v1', {
        messageId,
        supplierAccount: 'aliyun-main',
        reason: reason('INVALID_NUMBER'),
      }),
    ]);
  },
  // 4: retried, uncertain, reconciled
  async (w, stream, messageId, sid) => {
    await w.put(stream, [
      w.ev('sms.retry-scheduled.v1', {
        messageId,
        supplierAccount: 'aliyun-main',
        attempt: 1,
        dueAt: w.ahead(5),
        reason: reason('THROTTLED'),
      }),
    ]);
    await w.put(stream, [
      w.ev('sms.submission-uncertain.v1', {
        messageId,
        supplierAccount: 'aliyun-main',
        attempt: 2,
        reason: reason('TIMEOUT'),
      }),
    ]);
    await submitted('aliyun-main', { reconciled: true })(w, stream, messageId, sid);
  },
  // 5: receipt before the submission record
  async (w, stream, messageId, sid) => {
    await delivered('tencent-main')(w, stream, messageId, sid);
  },
  // 6, 7: still accepted
  async () => {},
  async () => {},
];

/** Message `i`: accepted (with its verification for the verification kind), then its outcome. */
async function appendMessage(
  w: Writer,
  i: number,
  tenant: string,
  template: Workload['templates'][number],
): Promise<string> {
  const verification = i % 2 === 1;
  const messageId = randomUUID();
  const mobile = `+86138${String(10000000 + (i % 7)).padStart(8, '0')}`;
  const stream = `message-${messageId}`;
  await w.put(
    stream,
    [
      w.ev(
        'sms.accepted.v1',
        {
          messageId,
          tenantId: tenant,
          templateId: template.id,
          templateCode: template.code,
          kind: verification ? 'verification' : 'notification',
          mobile,
          signature: 'Acme',
          content: verification ? '【Acme】Your code is ******' : `【Acme】Hello user${i}`,
          ...(verification
            ? {
                sealedContent: 'sealed:abcdef',
                sealedParams: 'sealed:params-secret',
                verificationId: randomUUID(),
                params: {},
              }
            : { params: { name: `user${i}` } }),
          segments: 1 + (i % 2),
          encoding: 'UCS-2',
          suppliers: ['aliyun-main', 'tencent-main'],
          requestHash: `h${i}`,
          acceptedAt: w.tick(),
        },
        actor(tenant),
      ),
    ],
    'no_stream',
  );
  if (verification) {
    await w.put(`verification-${template.code}-${i}`, [
      w.ev('verification.issued.v1', {
        verificationId: randomUUID(),
        messageId,
        templateCode: template.code,
        codeHash: 'hmac:deadbeef',
        expiresAt: w.ahead(300),
        maxAttempts: 3,
      }),
    ]);
  }
  await OUTCOMES[i % 8]!(w, stream, messageId, `sid-${i}`);
  return messageId;
}

/** Inbound message `i`; the first of each tenant is a STOP and opts its sender out. */
async function appendInbound(w: Writer, i: number, tenant: string, stop: boolean) {
  const inboundId = randomUUID();
  const mobile = `+8613900000${String(i).padStart(3, '0')}`;
  await w.put(`inbound-${inboundId}`, [
    w.ev('inbound.received.v1', {
      inboundId,
      supplierAccount: 'aliyun-main',
      vendor: 'aliyun',
      mobile,
      content: stop ? 'STOP' : 'thanks',
      receivedAt: w.tick(),
      tenantId: tenant,
    }),
  ]);
  if (stop) {
    await w.put(`optout-${tenant}-${mobile}`, [
      w.ev('mobile.opted-out.v1', { tenantId: tenant, mobile, keyword: 'STOP', inboundId }),
    ]);
  }
}

/**
 * Appends users, templates (created, updated, disabled, enabled), messages in
 * every outcome (submitted, delivered, undelivered, failed, failed over,
 * retried, uncertain, receipt before submission), inbound messages and
 * opt-outs. `messages` per tenant.
 */
export async function appendWorkload(
  store: MysqlEventStore,
  options: { tenants?: number; messages?: number; base?: number } = {},
): Promise<Workload> {
  const w = new Writer(store, options.base ?? Date.parse('2026-03-01T08:00:00.000Z'));
  const tenantCount = options.tenants ?? 2;
  const perTenant = options.messages ?? 12;
  const tenants: string[] = [];
  const templates: Workload['templates'] = [];
  const messages: string[] = [];
  for (let t = 0; t < tenantCount; t++) tenants.push(await appendTenant(w, t, templates));
  await appendTemplateChanges(w, templates);
  for (let i = 0; i < perTenant * tenantCount; i++) {
    const tenant = tenants[i % tenantCount]!;
    const template = templates.filter((t) => t.tenant === tenant)[i % 2]!;
    messages.push(await appendMessage(w, i, tenant, template));
  }
  for (let i = 0; i < tenantCount * 2; i++)
    await appendInbound(w, i, tenants[i % tenantCount]!, i < tenantCount); // one opt-out per tenant
  return { tenants, messages, templates, lastPosition: w.last };
}
