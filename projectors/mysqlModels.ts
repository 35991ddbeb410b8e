// The MySQL read models: message_history, templates, signatures, users, inbound_messages, tenants, opt_outs.
import { isClosedStatus, isFinalStatus, type MessageStatus } from '../domain/messages/index.ts';
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import { mysqlProjection, type Row, type RowModel } from './mysqlProjection.ts';
import { INBOUND_MESSAGES, MESSAGE_HISTORY, OPT_OUTS } from '../contracts/index.ts';

type Data = Record<string, unknown>;

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const at = (v: unknown, fallback: string): Date => new Date(typeof v === 'string' ? v : fallback);
const clip = (v: unknown, n: number): string | null => {
  const s = text(v);
  return s === null ? null : s.slice(0, n);
};
const reasonOf = (d: Data) => (d.reason ?? {}) as { code?: string; message?: string };
const streamSuffix = (event: RecordedEvent, prefix: string): string | undefined =>
  event.streamId.startsWith(prefix) ? event.streamId.slice(prefix.length) : undefined;

// message_history ---------------------------------------------------------
const messageHistoryColumns = [
  'message_id',
  'tenant_id',
  'template_id',
  'template_code',
  'kind',
  'mobile',
  'content',
  'segments',
  'encoding',
  'status',
  'supplier_account',
  'supplier_message_id',
  'attempts',
  'error_code',
  'error_message',
  'accepted_at',
  'submitted_at',
  'delivered_at',
  'updated_at',
  'updated_position',
] as const;

/** The row of a message just accepted. */
function acceptedRow(event: RecordedEvent): Row {
  const d = event.data;
  const time = event.metadata.timestamp;
  return {
    message_id: d.messageId,
    tenant_id: d.tenantId,
    template_id: d.templateId,
    template_code: d.templateCode,
    kind: d.kind,
    mobile: d.mobile,
    content: text(d.content), // verification codes are already masked in the event
    segments: d.segments,
    encoding: d.encoding,
    status: 'accepted' satisfies MessageStatus,
    supplier_account: null,
    supplier_message_id: null,
    attempts: 0,
    error_code: null,
    error_message: null,
    accepted_at: at(d.acceptedAt, time),
    submitted_at: null,
    delivered_at: null,
    updated_at: new Date(time),
    updated_position: event.position,
  };
}

function reduceMessage(row: Row | undefined, event: RecordedEvent): Row | undefined {
  const d = event.data;
  const time = event.metadata.timestamp;
  if (event.type === 'sms.accepted.v1') return row ? undefined : acceptedRow(event);
  if (!row) return undefined; // an outcome without its acceptance (deleted by retention)
  const next: Row = { ...row, updated_at: new Date(time) };
  // the domain's statuses: a closed one is kept, whatever arrives later
  const final = isClosedStatus(String(row.status));
  const moveTo = (status: MessageStatus) => void (next.status = status);
  const reason = reasonOf(d);
  const setError = () => {
    next.error_code = clip(reason.code, 64);
    next.error_message = clip(reason.message, 512);
  };
  switch (event.type) {
    case 'sms.submitted.v1':
      if (final) {
        // the receipt came first: keep its outcome, fill in what it lacked
        next.supplier_account ??= d.supplierAccount;
        next.supplier_message_id ??= d.supplierMessageId;
      } else {
        moveTo('submitted');
        next.supplier_account = d.supplierAccount;
        next.supplier_message_id = d.supplierMessageId;
      }
      next.submitted_at ??= new Date(time);
      if (d.reconciled !== true) next.attempts = Number(row.attempts) + 1;
      return next;
    case 'sms.failed-over.v1':
      // out of uncertain (the re-send was refused for the account): dispatching again
      if (String(row.status) === 'uncertain') moveTo('accepted');
      next.supplier_account = text(d.toAccount) ?? row.supplier_account ?? null;
      setError();
      return next;
    case 'sms.retry-scheduled.v1':
      next.attempts = Number(row.attempts) + 1;
      setError();
      return next;
    case 'sms.submission-uncertain.v1':
      if (!final) moveTo('uncertain');
      next.supplier_account = d.supplierAccount;
      next.attempts = Number(row.attempts) + 1;
      setError();
      return next;
    case 'sms.failed.v1':
      if (final) return undefined;
      moveTo('failed');
      if (typeof d.supplierAccount === 'string') next.supplier_account = d.supplierAccount;
      setError();
      return next;
    case 'sms.delivered.v1':
      if (final) return undefined;
      moveTo('delivered');
      next.supplier_account = d.supplierAccount;
      next.supplier_message_id = d.supplierMessageId;
      next.delivered_at = at(d.deliveredAt, time);
      next.error_code = null;
      next.error_message = null;
      return next;
    case 'sms.cancelled.v1':
      if (final) return undefined;
      moveTo('cancelled');
      return next;
    case 'sms.expired.v1':
      if (isFinalStatus(String(row.status))) return undefined;
      moveTo('expired');
      setError();
      return next;
    case 'sms.undelivered.v1':
      if (final) return undefined;
      moveTo('undelivered');
      next.supplier_account = d.supplierAccount;
      next.supplier_message_id = d.supplierMessageId;
      next.delivered_at = null;
      setError();
      return next;
    default:
      return undefined;
  }
}

export const messageHistoryModel: RowModel = {
  table: MESSAGE_HISTORY,
  key: 'message_id',
  columns: messageHistoryColumns,
  ddl: (t) => `CREATE TABLE IF NOT EXISTS \`${t}\` (
    message_id VARCHAR(128) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(128) NOT NULL,
    template_id VARCHAR(128) NOT NULL,
    template_code VARCHAR(128) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    mobile VARCHAR(24) NOT NULL,
    content TEXT NULL,
    segments INT UNSIGNED NOT NULL,
    encoding VARCHAR(8) NOT NULL,
    status VARCHAR(16) NOT NULL,
    supplier_account VARCHAR(64) NULL,
    supplier_message_id VARCHAR(128) NULL,
    attempts INT UNSIGNED NOT NULL DEFAULT 0,
    error_code VARCHAR(64) NULL,
    error_message VARCHAR(512) NULL,
    accepted_at DATETIME(3) NOT NULL,
    submitted_at DATETIME(3) NULL,
    delivered_at DATETIME(3) NULL,
    updated_at DATETIME(3) NOT NULL,
    updated_position BIGINT UNSIGNED NOT NULL,
    KEY ix_tenant_accepted (tenant_id, accepted_at, message_id),
    KEY ix_tenant_mobile (tenant_id, mobile, accepted_at),
    KEY ix_tenant_template (tenant_id, template_code, accepted_at),
    KEY ix_tenant_status (tenant_id, status, accepted_at),
    KEY ix_accepted (accepted_at, message_id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  keyOf: (event) =>
    event.type.startsWith('sms.') ? (text(event.data.messageId) ?? undefined) : undefined,
  reduce: reduceMessage,
};

// templates ---------------------------------------------------------------
const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

export const templatesModel: RowModel = {
  table: 'templates',
  key: 'template_code',
  columns: [
    'template_id',
    'tenant_id',
    'template_code',
    'name',
    'kind',
    'signature',
    'content',
    'suppliers',
    'policy',
    'verification',
    'extend_code',
    'quiet_hours',
    'status',
    'revision',
    'bindings',
    'created_at',
    'updated_at',
    'updated_position',
  ],
  ddl: (t) => `CREATE TABLE IF NOT EXISTS \`${t}\` (
    template_id VARCHAR(128) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(128) NOT NULL,
    template_code VARCHAR(128) NOT NULL,
    name VARCHAR(255) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    signature VARCHAR(255) NOT NULL,
    content TEXT NOT NULL,
    suppliers TEXT NOT NULL,
    policy TEXT NOT NULL,
    verification TEXT NULL,
    extend_code VARCHAR(16) NULL,
    quiet_hours TEXT NULL,
    status VARCHAR(16) NOT NULL,
    revision INT NOT NULL DEFAULT 0,
    bindings TEXT NULL,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    updated_position BIGINT UNSIGNED NOT NULL,
    KEY ix_code (template_code),
    KEY ix_tenant_code (tenant_id, template_code)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  addedColumns: {
    extend_code: 'VARCHAR(16) NULL AFTER verification',
    quiet_hours: 'TEXT NULL AFTER extend_code',
    revision: 'INT NOT NULL DEFAULT 0 AFTER status',
    bindings: 'TEXT NULL AFTER revision',
  },
  // every template event names its template code; the stream is keyed by it
  // in the command service (template-<code>), so the row is found by code
  keyOf: (event) =>
    event.type.startsWith('template.') ? (text(event.data.templateCode) ?? undefined) : undefined,
  reduce(row, event) {
    const d = event.data;
    const time = new Date(event.metadata.timestamp);
    if (event.type === 'template.created.v1') {
      if (row) return undefined;
      return {
        template_id: d.templateId,
        tenant_id: d.tenantId,
        template_code: d.templateCode,
        name: d.name,
        kind: d.kind,
        signature: d.signature,
        content: d.content,
        suppliers: json(d.suppliers ?? []),
        policy: json(d.policy),
        verification: json(d.verification),
        extend_code: text(d.extendCode),
        quiet_hours: json(d.quietHours),
        status: 'enabled',
        revision: 0,
        bindings: json({}),
        created_at: time,
        updated_at: time,
        updated_position: event.position,
      };
    }
    if (!row) return undefined;
    const next: Row = { ...row, updated_at: time };
    if (event.type === 'template.updated.v1') {
      // new text: every account reviews it again (as the template decider does)
      if (d.content !== undefined || d.signature !== undefined) {
        next.revision = Number(row.revision ?? 0) + 1;
        next.bindings = json({});
      }
      if (d.signature !== undefined) next.signature = d.signature;
      if (d.content !== undefined) next.content = d.content;
      if (d.suppliers !== undefined) next.suppliers = json(d.suppliers);
      if (d.policy !== undefined) next.policy = json(d.policy);
      if (d.verification !== undefined) next.verification = json(d.verification);
      if (d.extendCode !== undefined) next.extend_code = text(d.extendCode);
      if (d.quietHours !== undefined) next.quiet_hours = json(d.quietHours);
    } else if (event.type === 'template.disabled.v1') next.status = 'disabled';
    else if (event.type === 'template.enabled.v1') next.status = 'enabled';
    else if (REVIEW_EVENTS.has(event.type)) {
      if (Number(d.revision) !== Number(row.revision ?? 0)) return undefined;
      next.bindings = json(reduceBinding(parseBindings(row.bindings), event.type, d));
    } else return undefined;
    return next;
  },
};

const REVIEW_EVENTS = new Set([
  'template.review-submitted.v1',
  'template.binding-requested.v1',
  'template.reviewed.v1',
]);
type BindingRow = {
  vendorTemplateId?: string;
  status: string;
  reason?: string;
  params: string[];
};
function parseBindings(v: unknown): Record<string, BindingRow> {
  if (typeof v !== 'string' || v === '') return {};
  return JSON.parse(v) as Record<string, BindingRow>;
}
function reduceBinding(
  bindings: Record<string, BindingRow>,
  type: string,
  d: Data,
): Record<string, BindingRow> {
  const account = String(d.account);
  const before = bindings[account];
  const params = Array.isArray(d.params) ? (d.params as string[]) : undefined;
  let binding: BindingRow;
  if (type === 'template.reviewed.v1') {
    binding = {
      ...((text(d.vendorTemplateId) ?? before?.vendorTemplateId)
        ? { vendorTemplateId: text(d.vendorTemplateId) ?? before?.vendorTemplateId }
        : {}),
      status: String(d.status),
      ...(text(d.reason) ? { reason: text(d.reason)! } : {}),
      params: params ?? before?.params ?? [],
    };
  } else {
    binding = {
      vendorTemplateId: String(d.vendorTemplateId),
      status: 'pending',
      params: params ?? [],
    };
  }
  return { ...bindings, [account]: binding };
}

// signatures ----------------------------------------------------------------
type SignatureReviewRow = { status: string; reason?: string };
export const signaturesModel: RowModel = {
  table: 'signatures',
  key: 'signature_key',
  columns: [
    'signature_key',
    'tenant_id',
    'name',
    'accounts',
    'reviews',
    'created_at',
    'updated_at',
    'updated_position',
  ],
  ddl: (t) => `CREATE TABLE IF NOT EXISTS \`${t}\` (
    signature_key VARCHAR(190) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(128) NOT NULL,
    name VARCHAR(64) NOT NULL,
    accounts TEXT NOT NULL,
    reviews TEXT NOT NULL,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    updated_position BIGINT UNSIGNED NOT NULL,
    KEY ix_tenant_name (tenant_id, name)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  keyOf: (event) =>
    event.type.startsWith('signature.') && event.type !== 'signature.name-reserved.v1'
      ? streamSuffix(event, 'signature-')
      : undefined,
  reduce(row, event) {
    const d = event.data;
    const time = new Date(event.metadata.timestamp);
    if (event.type === 'signature.registered.v1') {
      if (row) return undefined;
      const accounts = (d.accounts ?? []) as string[];
      return {
        signature_key: streamSuffix(event, 'signature-'),
        tenant_id: d.tenantId,
        name: d.name,
        accounts: json(accounts),
        reviews: json(Object.fromEntries(accounts.map((a) => [a, { status: 'pending' }]))),
        created_at: time,
        updated_at: time,
        updated_position: event.position,
      };
    }
    if (!row) return undefined;
    const accounts = JSON.parse(String(row.accounts)) as string[];
    const reviews = JSON.parse(String(row.reviews)) as Record<string, SignatureReviewRow>;
    if (event.type === 'signature.accounts-added.v1') {
      for (const a of (d.accounts ?? []) as string[]) {
        if (!accounts.includes(a)) accounts.push(a);
        reviews[a] ??= { status: 'pending' };
      }
    } else if (event.type === 'signature.reviewed.v1') {
      reviews[String(d.account)] = {
        status: String(d.status),
        ...(text(d.reason) ? { reason: text(d.reason)! } : {}),
      };
    } else if (event.type !== 'signature.submitted.v1') return undefined;
    return { ...row, accounts: json(accounts), reviews: json(reviews), updated_at: time };
  },
};

// users -------------------------------------------------------------------
export const usersModel: RowModel = {
  table: 'users',
  key: 'user_id',
  columns: ['user_id', 'username', 'role', 'created_at', 'updated_position'],
  ddl: (t) => `CREATE TABLE IF NOT EXISTS \`${t}\` (
    user_id VARCHAR(128) NOT NULL PRIMARY KEY,
    username VARCHAR(64) NOT NULL,
    role VARCHAR(16) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    updated_position BIGINT UNSIGNED NOT NULL,
    UNIQUE KEY uq_username (username)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  keyOf: (event) =>
    event.type === 'user.registered.v1' ? (text(event.data.userId) ?? undefined) : undefined,
  reduce(row, event) {
    if (row) return undefined;
    const d = event.data;
    return {
      user_id: d.userId,
      username: d.username,
      role: d.role,
      created_at: new Date(event.metadata.timestamp),
      updated_position: event.position,
    };
  },
};

// inbound_messages --------------------------------------------------------
export const inboundModel: RowModel = {
  table: INBOUND_MESSAGES,
  key: 'inbound_id',
  columns: [
    'inbound_id',
    'tenant_id',
    'supplier_account',
    'vendor',
    'mobile',
    'content',
    'received_at',
    'linked_message_id',
    'opt_out_keyword',
    'updated_position',
  ],
  ddl: (t) => `CREATE TABLE IF NOT EXISTS \`${t}\` (
    inbound_id VARCHAR(128) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(128) NULL,
    supplier_account VARCHAR(64) NOT NULL,
    vendor VARCHAR(32) NULL,
    mobile VARCHAR(24) NOT NULL,
    content TEXT NULL,
    received_at DATETIME(3) NOT NULL,
    linked_message_id VARCHAR(128) NULL,
    opt_out_keyword VARCHAR(32) NULL,
    updated_position BIGINT UNSIGNED NOT NULL,
    KEY ix_tenant_received (tenant_id, received_at, inbound_id),
    KEY ix_received (received_at, inbound_id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  keyOf: (event) => {
    const d = event.data;
    if (event.type === 'inbound.received.v1') return text(d.inboundId) ?? undefined;
    if (event.type === 'mobile.opted-out.v1') return text(d.inboundId) ?? undefined;
    return undefined;
  },
  reduce(row, event) {
    const d = event.data;
    if (event.type === 'inbound.received.v1') {
      if (row) return undefined;
      return {
        inbound_id: d.inboundId,
        tenant_id: text(d.tenantId),
        supplier_account: d.supplierAccount,
        vendor: text(d.vendor),
        mobile: d.mobile,
        content: text(d.content),
        received_at: at(d.receivedAt, event.metadata.timestamp),
        linked_message_id: text(d.linkedMessageId),
        opt_out_keyword: null,
        updated_position: event.position,
      };
    }
    if (!row) return undefined;
    return {
      ...row,
      opt_out_keyword: clip(d.keyword, 32),
      tenant_id: row.tenant_id ?? text(d.tenantId),
    };
  },
};

// opt_outs: the numbers opted out of a tenant's marketing, now --------------
export const optOutsModel: RowModel = {
  table: OPT_OUTS,
  key: 'opt_out_id',
  columns: [
    'opt_out_id',
    'tenant_id',
    'mobile',
    'opted_out',
    'keyword',
    'inbound_id',
    'updated_at',
    'updated_position',
  ],
  ddl: (t) => `CREATE TABLE IF NOT EXISTS \`${t}\` (
    opt_out_id VARCHAR(191) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(128) NOT NULL,
    mobile VARCHAR(24) NOT NULL,
    opted_out TINYINT(1) NOT NULL,
    keyword VARCHAR(32) NULL,
    inbound_id VARCHAR(128) NULL,
    updated_at DATETIME(3) NOT NULL,
    updated_position BIGINT UNSIGNED NOT NULL,
    KEY ix_tenant_out (tenant_id, opted_out, updated_at, opt_out_id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  keyOf: (event) => {
    if (event.type !== 'mobile.opted-out.v1' && event.type !== 'mobile.opted-in.v1')
      return undefined;
    const d = event.data;
    return `${String(d.tenantId)}|${String(d.mobile)}`;
  },
  reduce(_row, event) {
    const d = event.data;
    const out = event.type === 'mobile.opted-out.v1';
    return {
      opt_out_id: `${String(d.tenantId)}|${String(d.mobile)}`,
      tenant_id: d.tenantId,
      mobile: d.mobile,
      opted_out: out ? 1 : 0,
      keyword: clip(d.keyword, 32),
      inbound_id: text(d.inboundId),
      updated_at: new Date(event.metadata.timestamp),
      updated_position: event.position,
    };
  },
};

// tenants -----------------------------------------------------------------
export const tenantsModel: RowModel = {
  table: 'tenants',
  key: 'tenant_id',
  columns: [
    'tenant_id',
    'status',
    'limits',
    'verified_numbers',
    'suspended_reason',
    'created_at',
    'updated_at',
    'updated_position',
  ],
  ddl: (t) => `CREATE TABLE IF NOT EXISTS \`${t}\` (
    tenant_id VARCHAR(128) NOT NULL PRIMARY KEY,
    status VARCHAR(16) NOT NULL,
    limits TEXT NOT NULL,
    verified_numbers INT UNSIGNED NOT NULL,
    suspended_reason VARCHAR(500) NULL,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    updated_position BIGINT UNSIGNED NOT NULL,
    KEY ix_status (status, tenant_id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  keyOf: (event) =>
    event.type.startsWith('tenant.') ? (text(event.data.tenantId) ?? undefined) : undefined,
  reduce(row, event) {
    const d = event.data;
    const time = new Date(event.metadata.timestamp);
    if (event.type === 'tenant.started.v1') {
      if (row) return undefined;
      return {
        tenant_id: d.tenantId,
        status: d.status,
        limits: '{}',
        verified_numbers: 0,
        suspended_reason: null,
        created_at: time,
        updated_at: time,
        updated_position: event.position,
      };
    }
    if (!row) return undefined;
    const next = { ...row, updated_at: time, updated_position: event.position };
    switch (event.type) {
      case 'tenant.activated.v1':
        return { ...next, status: 'active', suspended_reason: null };
      case 'tenant.suspended.v1':
        return { ...next, status: 'suspended', suspended_reason: clip(d.reason, 500) };
      case 'tenant.limits-set.v1':
        return { ...next, limits: JSON.stringify(d.limits ?? {}) };
      case 'tenant.number-verified.v1':
        return { ...next, verified_numbers: Number(row.verified_numbers ?? 0) + 1 };
      default:
        return undefined;
    }
  },
};

export const messageHistory = mysqlProjection({
  name: MESSAGE_HISTORY,
  version: 1,
  model: messageHistoryModel,
});
export const templates = mysqlProjection({ name: 'templates', version: 1, model: templatesModel });
export const users = mysqlProjection({ name: 'users', version: 1, model: usersModel });
export const signatures = mysqlProjection({
  name: 'signatures',
  version: 1,
  model: signaturesModel,
});
export const inboundMessages = mysqlProjection({
  name: INBOUND_MESSAGES,
  version: 1,
  model: inboundModel,
});
export const tenants = mysqlProjection({ name: 'tenants', version: 1, model: tenantsModel });
export const optOuts = mysqlProjection({ name: OPT_OUTS, version: 1, model: optOutsModel });
