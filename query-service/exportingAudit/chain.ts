// Audit records and their hash chain:
//   hash_i = HMAC-SHA256(key, hash_{i-1} + canonical JSON of record_i without its hash)
// with the key from STREAMING_AUDIT_KEY (algorithm `hmac-sha256-chain`), so
// that whoever rewrites a whole export and recomputes every hash without the
// key is caught by `streaming audit verify` with it. Without a key (older
// exports) it is plain sha256 (`sha256-chain`), which only shows accidents.
// with hash_0 = 64 zeros. Each record carries its sequence number and the
// previous hash, so one record can be checked on its own and its place in the
// chain can be told; a closing manifest gives count, range and last hash.
import { createHash, createHmac } from 'node:crypto';

export const GENESIS = '0'.repeat(64);

export interface AuditRecord {
  seq: number;
  eventId: string;
  streamId: string;
  version: number;
  position: number;
  type: string;
  at: string;
  tenantId: string | null;
  actor: unknown;
  payload: unknown;
  prevHash: string;
  hash: string;
}

export type ChainAlgorithm = 'sha256-chain' | 'hmac-sha256-chain';

/** Names a key without revealing it. */
export const auditKeyId = (key: Buffer): string =>
  createHash('sha256').update(key).digest('hex').slice(0, 16);

export interface Manifest {
  manifest: {
    count: number;
    firstPosition: number | null;
    lastPosition: number | null;
    firstAt: string | null;
    lastAt: string | null;
    lastHash: string;
    tenant: string | null;
    from: string | null;
    to: string | null;
    generatedAt: string;
    algorithm: ChainAlgorithm;
    /** For hmac-sha256-chain: which key (the first 16 hex digits of its sha256), never the key. */
    keyId?: string;
  };
}

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function recordHash(
  record: Omit<AuditRecord, 'hash'> & { hash?: string },
  key?: Buffer,
): string {
  const { hash: _hash, ...rest } = record;
  const h = key ? createHmac('sha256', key) : createHash('sha256');
  return h.update(record.prevHash).update(canonicalJson(rest)).digest('hex');
}

/** Appends records to a chain, one at a time (keyed when key is given). */
export function createChain(key?: Buffer) {
  let prev = GENESIS;
  let seq = 0;
  return {
    next(fields: Omit<AuditRecord, 'seq' | 'prevHash' | 'hash'>): AuditRecord {
      seq += 1;
      const partial = { seq, ...fields, prevHash: prev };
      const record: AuditRecord = { ...partial, hash: recordHash(partial, key) };
      prev = record.hash;
      return record;
    },
    get count() {
      return seq;
    },
    get lastHash() {
      return prev;
    },
  };
}

// CSV ----------------------------------------------------------------------
export const csvColumns = [
  'seq',
  'eventId',
  'streamId',
  'version',
  'position',
  'type',
  'at',
  'tenantId',
  'actor',
  'payload',
  'prevHash',
  'hash',
] as const;

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvHeader(): string {
  return csvColumns.join(',');
}

export function toCsvLine(record: AuditRecord): string {
  return csvColumns
    .map((c) => {
      const v = record[c];
      if (c === 'actor' || c === 'payload') return csvField(JSON.stringify(v));
      return csvField(v === null ? '' : String(v));
    })
    .join(',');
}

export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  let field = '';
  let quoted = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
    i += 1;
  }
  out.push(field);
  return out;
}

/** A CSV line back into a record (throws on anything malformed). */
export function fromCsvLine(line: string): AuditRecord {
  const fields = parseCsvLine(line);
  if (fields.length !== csvColumns.length) throw new Error(`expected ${csvColumns.length} fields`);
  const get = (c: (typeof csvColumns)[number]) => fields[csvColumns.indexOf(c)]!;
  const int = (c: (typeof csvColumns)[number]) => {
    const v = get(c);
    if (!/^[0-9]+$/.test(v)) throw new Error(`${c} is not a number`);
    return Number(v);
  };
  return {
    seq: int('seq'),
    eventId: get('eventId'),
    streamId: get('streamId'),
    version: int('version'),
    position: int('position'),
    type: get('type'),
    at: get('at'),
    tenantId: get('tenantId') === '' ? null : get('tenantId'),
    actor: JSON.parse(get('actor')) as unknown,
    payload: JSON.parse(get('payload')) as unknown,
    prevHash: get('prevHash'),
    hash: get('hash'),
  };
}

export const CSV_MANIFEST_PREFIX = '#manifest,';
