// The keyed audit chain: whoever rewrites a whole export and recomputes every
// hash (without the audit key) is caught by `streaming audit verify` with the
// key; the untouched export passes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startProjectors } from '../../projectors/index.ts';
import { auditExport, createChain } from '../../query-service/index.ts';
import { appendWorkload, readSide, type ReadSide, type Workload } from '../../testing/readSide.ts';

const run = promisify(execFile);
type Fields = Parameters<ReturnType<typeof createChain>['next']>[0];
const cli = path.resolve(import.meta.dirname, '../../bin/streaming.js');

async function verifyWithCli(file: string, key: string | undefined) {
  try {
    const { stdout } = await run(
      process.execPath,
      [cli, 'audit', 'verify', file, ...(key ? ['--key', key] : [])],
      {
        env: { ...process.env, STREAMING_AUDIT_KEY: '', STREAMING_ENV: 'production' },
      },
    );
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '' };
  }
}

/** Rewrites every record and re-chains the whole export, as a forger without the key would. */
function forge(lines: string[], key?: Buffer): string {
  const records = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
  const manifest = JSON.parse(lines.at(-1)!) as { manifest: Record<string, unknown> };
  const chain = createChain(key);
  const out = records.map((r, i) => {
    const { seq: _s, prevHash: _p, hash: _h, ...fields } = r;
    const payload =
      i === 2 ? { ...(fields.payload as Record<string, unknown>), forged: true } : fields.payload;
    return JSON.stringify(chain.next({ ...(fields as unknown as Fields), payload }));
  });
  out.push(JSON.stringify({ manifest: { ...manifest.manifest, lastHash: chain.lastHash } }));
  return `${out.join('\n')}\n`;
}

describe('keyed audit export', () => {
  let side: ReadSide;
  let workload: Workload;
  let dir: string;

  before(async () => {
    side = await readSide('auditkey');
    dir = await mkdtemp(path.join(tmpdir(), 'auditkey-'));
    const running = startProjectors(side.deps, { only: ['audit_log'], maxWaitMs: 5 });
    workload = await appendWorkload(side.deps.eventStore, { tenants: 2, messages: 10 });
    assert.equal(await running.waitFor(workload.lastPosition, 20_000), true);
    await running.close();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await side.drop();
  });

  it('catches a rewritten-and-rehashed export with the key, and passes the untouched one', async () => {
    const out = path.join(dir, 'export.ndjson');
    await auditExport(side.deps, { out });
    const text = await readFile(out, 'utf8');
    assert.ok(!text.includes('sealed:params-secret'), 'no OTP ciphertext in the export');
    assert.ok(!text.includes('sealed:abcdef'));
    const lines = text.trimEnd().split('\n');
    const manifest = JSON.parse(lines.at(-1)!) as {
      manifest: { algorithm: string; keyId: string };
    };
    assert.equal(manifest.manifest.algorithm, 'hmac-sha256-chain');
    const key = side.config.audit.key.toString('hex');
    assert.ok(!text.includes(key), 'the key itself is not in the export');

    const clean = await verifyWithCli(out, key);
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(clean.stdout, /OK/);

    // rewritten and re-hashed with plain sha256, keeping the keyed manifest
    const plain = path.join(dir, 'forged-plain.ndjson');
    await writeFile(plain, forge(lines));
    const caughtPlain = await verifyWithCli(plain, key);
    assert.equal(caughtPlain.code, 1, caughtPlain.stdout);
    assert.match(caughtPlain.stdout, /edited/);

    // rewritten and re-hashed with a key of the forger's own
    const other = path.join(dir, 'forged-key.ndjson');
    await writeFile(other, forge(lines, randomBytes(32)));
    const caughtOther = await verifyWithCli(other, key);
    assert.equal(caughtOther.code, 1, caughtOther.stdout);

    // re-labelled as an unkeyed export: refused with the key
    const relabelled = forge(lines).replace(
      '"algorithm":"hmac-sha256-chain"',
      '"algorithm":"sha256-chain"',
    );
    const unkeyed = path.join(dir, 'forged-unkeyed.ndjson');
    await writeFile(unkeyed, relabelled);
    const caughtUnkeyed = await verifyWithCli(unkeyed, key);
    assert.equal(caughtUnkeyed.code, 1, caughtUnkeyed.stdout);
    assert.match(caughtUnkeyed.stdout, /not keyed/);

    // without the key a keyed export cannot be vouched for
    const keyless = await verifyWithCli(out, undefined);
    assert.equal(keyless.code, 1);
    assert.match(keyless.stdout, /give the audit key/);
  });
});
