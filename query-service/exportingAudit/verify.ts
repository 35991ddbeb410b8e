// `streaming audit verify <file>`: checks an export's hash chain and
// manifest, and says which lines were edited, removed, inserted or reordered.
import { readFile } from 'node:fs/promises';
import {
  auditKeyId,
  CSV_MANIFEST_PREFIX,
  csvHeader,
  fromCsvLine,
  recordHash,
  type AuditRecord,
  type Manifest,
} from './chain.ts';

export type ProblemKind = 'edited' | 'removed' | 'inserted' | 'reordered' | 'manifest' | 'key';

export interface VerifyProblem {
  /** 1-based line of the file. */
  line: number;
  kind: ProblemKind;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  format: 'ndjson' | 'csv';
  records: number;
  problems: VerifyProblem[];
}

interface Line {
  line: number;
  record?: AuditRecord;
  selfOk: boolean;
}

function parseRecord(text: string, format: 'ndjson' | 'csv'): AuditRecord | undefined {
  try {
    const r = (format === 'csv' ? fromCsvLine(text) : JSON.parse(text)) as AuditRecord;
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.hash !== 'string' ||
      typeof r.prevHash !== 'string'
    ) {
      return undefined;
    }
    return r;
  } catch {
    return undefined;
  }
}

type Problems = VerifyProblem[];

/** Step 1: the closing manifest, and where the records end. */
function readManifest(raw: string[], format: 'ndjson' | 'csv', start: number) {
  let manifest: Manifest['manifest'] | undefined;
  let end = raw.length;
  const lastText = raw[raw.length - 1];
  if (lastText !== undefined && raw.length > start) {
    try {
      const m = (
        format === 'csv'
          ? lastText.startsWith(CSV_MANIFEST_PREFIX)
            ? JSON.parse(JSON.parse(lastText.slice(CSV_MANIFEST_PREFIX.length)) as string)
            : undefined
          : JSON.parse(lastText)
      ) as Manifest | undefined;
      if (m && typeof m.manifest === 'object' && m.manifest !== null) {
        manifest = m.manifest;
        end = raw.length - 1;
      }
    } catch {
      // not a manifest
    }
  }
  return { manifest, end };
}

/** Step 1b: the key: the one the manifest names, and the one the caller holds */
function checkKey(
  problems: Problems,
  lineCount: number,
  manifest: Manifest['manifest'] | undefined,
  key: Buffer | undefined,
): boolean {
  const keyed = manifest?.algorithm === 'hmac-sha256-chain';
  if (key && !keyed) {
    problems.push({
      line: lineCount,
      kind: 'key',
      message:
        'the export is not keyed with the audit key (its hashes could have been recomputed by anyone)',
    });
  } else if (key && manifest?.keyId !== undefined && manifest.keyId !== auditKeyId(key)) {
    problems.push({
      line: lineCount,
      kind: 'key',
      message: `the export names audit key ${manifest.keyId}, not the one given (${auditKeyId(key)})`,
    });
  } else if (!key && keyed) {
    problems.push({
      line: lineCount,
      kind: 'key',
      message:
        'the export is keyed: give the audit key (--key or STREAMING_AUDIT_KEY) to verify it',
    });
  }
  return keyed;
}

/** Step 2: each record on its own: does its hash match its content? */
function readLines(
  raw: string[],
  format: 'ndjson' | 'csv',
  start: number,
  end: number,
  keyed: boolean,
  chainKey: Buffer | undefined,
): Line[] {
  const lines: Line[] = [];
  for (let i = start; i < end; i++) {
    const record = parseRecord(raw[i]!, format);
    const selfOk =
      record !== undefined &&
      (!keyed || chainKey !== undefined) &&
      recordHash(record, chainKey) === record.hash;
    lines.push(record ? { line: i + 1, record, selfOk } : { line: i + 1, selfOk: false });
  }
  return lines;
}

/** Step 3: which line holds each sequence number; extras are insertions */
function placeBySeq(problems: Problems, lines: Line[], count: number) {
  const bySeq = new Map<number, Line>();
  const genuine: Line[] = [];
  for (const l of lines) {
    const seq = l.record?.seq;
    if (!l.record || typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1 || seq > count) {
      problems.push({
        line: l.line,
        kind: 'inserted',
        message: l.record
          ? `a record outside the chain (seq ${String(seq)} of ${count})`
          : 'a line that is not an audit record',
      });
      continue;
    }
    const other = bySeq.get(seq);
    if (other) {
      // keep the copy whose hash holds; the other was inserted
      const [kept, extra] = other.selfOk || !l.selfOk ? [other, l] : [l, other];
      bySeq.set(seq, kept);
      if (kept !== other) genuine.splice(genuine.indexOf(other), 1, kept);
      problems.push({
        line: extra.line,
        kind: 'inserted',
        message: `a second record with seq ${seq} (the first is on line ${kept.line})`,
      });
      continue;
    }
    bySeq.set(seq, l);
    genuine.push(l);
  }
  for (const l of genuine) {
    if (!l.selfOk) {
      problems.push({
        line: l.line,
        kind: 'edited',
        message: `record seq ${l.record!.seq} does not match its hash`,
      });
    }
  }
  return { bySeq, genuine };
}

/** Step 4: gaps are removals, reported where the missing records belonged */
function findGaps(problems: Problems, bySeq: Map<number, Line>, count: number, end: number) {
  for (let seq = 1; seq <= count; seq++) {
    if (bySeq.has(seq)) continue;
    let to = seq;
    while (to + 1 <= count && !bySeq.has(to + 1)) to++;
    const nextLine = bySeq.get(to + 1)?.line ?? end + 1;
    problems.push({
      line: nextLine,
      kind: 'removed',
      message:
        seq === to
          ? `record seq ${seq} was removed before this line`
          : `records seq ${seq}–${to} were removed before this line`,
    });
    seq = to;
  }
}

/** Step 5: order: sequence numbers must rise through the file */
function checkOrder(problems: Problems, genuine: Line[]) {
  let maxSeen: Line | undefined;
  for (const l of genuine) {
    if (maxSeen && l.record!.seq < maxSeen.record!.seq) {
      problems.push({
        line: l.line,
        kind: 'reordered',
        message: `record seq ${l.record!.seq} comes after seq ${maxSeen.record!.seq} (line ${maxSeen.line})`,
      });
    } else maxSeen = l;
  }
}

/** Step 6: links: each record chains to the hash of the one before it */
function checkLinks(problems: Problems, genuine: Line[], bySeq: Map<number, Line>) {
  for (const l of genuine) {
    const seq = l.record!.seq;
    const prev = bySeq.get(seq - 1);
    if (
      seq > 1 &&
      prev?.record &&
      l.selfOk &&
      prev.selfOk &&
      l.record!.prevHash !== prev.record.hash
    ) {
      problems.push({
        line: prev.line,
        kind: 'edited',
        message: `record seq ${seq - 1} is not the one record seq ${seq} (line ${l.line}) was chained to`,
      });
    }
  }
}

/** Step 7: the manifest's count and last hash */
function checkManifest(
  problems: Problems,
  manifest: Manifest['manifest'] | undefined,
  bySeq: Map<number, Line>,
  count: number,
  end: number,
  lines: Line[],
) {
  if (manifest) {
    const lastRecord = bySeq.get(count)?.record;
    if (lastRecord && lastRecord.hash !== manifest.lastHash) {
      problems.push({
        line: end + 1,
        kind: 'manifest',
        message: 'the manifest lastHash does not match the last record',
      });
    }
    if (count === 0 && lines.length > 0 && problems.length === 0) {
      problems.push({ line: end + 1, kind: 'manifest', message: 'the manifest counts no records' });
    }
  }
}

/**
 * Verifies an export. With key (STREAMING_AUDIT_KEY), the chain must be keyed
 * with it: an unkeyed or otherwise-keyed export fails, since anyone could
 * have recomputed its hashes. Without a key, a keyed export cannot be
 * checked and fails saying so.
 */
export function verifyAuditText(text: string, key?: Buffer): VerifyResult {
  const raw = text.split('\n');
  if (raw[raw.length - 1] === '') raw.pop();
  const format = raw[0] === csvHeader() ? 'csv' : 'ndjson';
  const start = format === 'csv' ? 1 : 0;
  const problems: VerifyProblem[] = [];

  const { manifest, end } = readManifest(raw, format, start);
  if (!manifest) {
    problems.push({
      line: raw.length,
      kind: 'removed',
      message:
        'the closing manifest is missing: the file was cut short or its last line was changed',
    });
  }

  const keyed = checkKey(problems, raw.length, manifest, key);
  const chainKey = keyed || (key && !manifest) ? key : undefined;
  const lines = readLines(raw, format, start, end, keyed, chainKey);
  const count = manifest?.count ?? Math.max(0, ...lines.map((l) => l.record?.seq ?? 0));
  const { bySeq, genuine } = placeBySeq(problems, lines, count);
  findGaps(problems, bySeq, count, end);
  checkOrder(problems, genuine);
  checkLinks(problems, genuine, bySeq);
  checkManifest(problems, manifest, bySeq, count, end, lines);
  problems.sort((a, b) => a.line - b.line);
  return { ok: problems.length === 0, format, records: genuine.length, problems };
}

/** Verifies an export file. */
export async function auditVerify(file: string, key?: Buffer): Promise<VerifyResult> {
  return verifyAuditText(await readFile(file, 'utf8'), key);
}
