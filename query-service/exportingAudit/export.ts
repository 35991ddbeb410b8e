// The audit export: records from the audit_log read model in global order,
// for one tenant (or all) and a time range, as ndjson or csv lines with a hash
// chain and a closing manifest. The CLI writes a file; the API streams it.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import cliProgress from 'cli-progress';
import type { Document, Filter } from 'mongodb';
import { liveCollection, type QueryDeps } from '../readModels.ts';
import {
  auditKeyId,
  CSV_MANIFEST_PREFIX,
  createChain,
  csvHeader,
  toCsvLine,
  type Manifest,
} from './chain.ts';
import { AUDIT_LOG } from '../../contracts/index.ts';

export type AuditFormat = 'ndjson' | 'csv';

export interface AuditQuery {
  tenant?: string | undefined;
  /** ISO times: from inclusive, to exclusive. */
  from?: Date | undefined;
  to?: Date | undefined;
}

function filterOf(q: AuditQuery): Filter<Document> {
  const filter: Filter<Document> = {};
  if (q.tenant !== undefined) filter.tenantId = q.tenant;
  const at: Record<string, string> = {};
  if (q.from) at.$gte = q.from.toISOString();
  if (q.to) at.$lt = q.to.toISOString();
  if (Object.keys(at).length > 0) filter.at = at;
  return filter;
}

export async function countAuditRecords(
  deps: Pick<QueryDeps, 'mongo'>,
  q: AuditQuery,
): Promise<number> {
  const collection = await liveCollection(deps.mongo.db, AUDIT_LOG);
  return deps.mongo.db.collection(collection).countDocuments(filterOf(q));
}

/** The export as lines (without newlines): header (csv), records, manifest. */
export async function* auditLines(
  deps: Pick<QueryDeps, 'mongo'> & { config?: Pick<QueryDeps['config'], 'audit'> },
  q: AuditQuery,
  format: AuditFormat,
): AsyncGenerator<string> {
  const key = deps.config?.audit.key;
  const collection = await liveCollection(deps.mongo.db, AUDIT_LOG);
  const cursor = deps.mongo.db
    .collection(collection)
    .find(filterOf(q))
    .sort({ position: 1 })
    .batchSize(1000);
  const chain = createChain(key);
  let first: { position: number; at: string } | undefined;
  let last: { position: number; at: string } | undefined;
  if (format === 'csv') yield csvHeader();
  try {
    for await (const doc of cursor) {
      const record = chain.next({
        eventId: String(doc._id),
        streamId: String(doc.streamId),
        version: Number(doc.version),
        position: Number(doc.position),
        type: String(doc.type),
        at: String(doc.at),
        tenantId: typeof doc.tenantId === 'string' ? doc.tenantId : null,
        actor: doc.actor ?? null,
        payload: doc.payload ?? {},
      });
      first ??= { position: record.position, at: record.at };
      last = { position: record.position, at: record.at };
      yield format === 'csv' ? toCsvLine(record) : JSON.stringify(record);
    }
  } finally {
    await cursor.close();
  }
  const manifest: Manifest = {
    manifest: {
      count: chain.count,
      firstPosition: first?.position ?? null,
      lastPosition: last?.position ?? null,
      firstAt: first?.at ?? null,
      lastAt: last?.at ?? null,
      lastHash: chain.lastHash,
      tenant: q.tenant ?? null,
      from: q.from?.toISOString() ?? null,
      to: q.to?.toISOString() ?? null,
      generatedAt: new Date().toISOString(),
      algorithm: key ? 'hmac-sha256-chain' : 'sha256-chain',
      ...(key ? { keyId: auditKeyId(key) } : {}),
    },
  };
  yield format === 'csv'
    ? `${CSV_MANIFEST_PREFIX}${JSON.stringify(JSON.stringify(manifest))}`
    : JSON.stringify(manifest);
}

export interface AuditExportOptions {
  tenant?: string;
  /** ISO 8601 times */
  from?: string;
  to?: string;
  format?: AuditFormat;
  out: string;
  progress?: boolean;
}

/** `streaming audit export`: writes the export to a file, with a progress bar on stderr. */
export async function auditExport(
  deps: Pick<QueryDeps, 'mongo'> & { config?: Pick<QueryDeps['config'], 'audit'> },
  options: AuditExportOptions,
): Promise<{ file: string; count: number; lastHash: string }> {
  const q: AuditQuery = {
    tenant: options.tenant,
    from: options.from === undefined ? undefined : new Date(options.from),
    to: options.to === undefined ? undefined : new Date(options.to),
  };
  for (const [name, d] of [
    ['from', q.from],
    ['to', q.to],
  ] as const) {
    if (d && Number.isNaN(d.getTime()))
      throw new Error(`--${name} is not a valid time (use ISO 8601)`);
  }
  if (q.from && q.to && q.from >= q.to) throw new Error('--from must be before --to');
  const format = options.format ?? 'ndjson';
  const total = options.progress ? await countAuditRecords(deps, q) : 0;
  const bar = options.progress
    ? new cliProgress.SingleBar(
        {
          format:
            'audit export [{bar}] {percentage}% | {value}/{total} records | ETA {eta_formatted}',
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(Math.max(total, 1), 0);
  const file = createWriteStream(options.out, { encoding: 'utf8' });
  let count = 0;
  let lastLine = '';
  try {
    for await (const line of auditLines(deps, q, format)) {
      if (!file.write(`${line}\n`)) await once(file, 'drain');
      lastLine = line;
      count += 1;
      if (count % 500 === 0) bar?.update(Math.min(count, total));
    }
  } finally {
    bar?.update(total);
    bar?.stop();
    file.end();
    await once(file, 'close');
  }
  const manifestText =
    format === 'csv'
      ? (JSON.parse(lastLine.slice(CSV_MANIFEST_PREFIX.length)) as string)
      : lastLine;
  const manifest = JSON.parse(manifestText) as Manifest;
  return {
    file: options.out,
    count: manifest.manifest.count,
    lastHash: manifest.manifest.lastHash,
  };
}
