import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StackConfig } from './config.ts';
import { capture, runLogged, seconds, startDetached, StackError, ticking, which } from './proc.ts';
import type { Ctx, Needs, Service } from './service.ts';

const MODULE = 'github.com/FerretDB/FerretDB';

function goBin(): string | undefined {
  return (
    which('go') ??
    ['/usr/local/go/bin/go', path.join(os.homedir(), 'go', 'bin', 'go')].find((p) =>
      fs.existsSync(p),
    )
  );
}

/** The version a ferretdb binary reports ("v1.24.2"), or undefined when it does not run. */
async function binaryVersion(bin: string): Promise<string | undefined> {
  if (!fs.existsSync(bin)) return undefined;
  try {
    const out = await capture(bin, ['--version'], { timeoutMs: 10_000 });
    return /^version:\s*(\S+)/m.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

function makeWritable(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) makeWritable(p);
    else if (e.isFile()) fs.chmodSync(p, 0o644);
  }
}

/**
 * A ferretdb binary of the configured version: the stack's own build
 * (<dir>/bin/ferretdb) first, then the default stack folder's (a second stack,
 * such as a test's private one, reuses the build of `npm run stack -- up`),
 * then $GOBIN/ferretdb and $(go env GOPATH)/bin/ferretdb.
 */
export async function findFerretdb(cfg: StackConfig): Promise<string | undefined> {
  const candidates = [
    path.join(cfg.dir, 'bin', 'ferretdb'),
    path.join(cfg.root, '.stack', 'bin', 'ferretdb'),
  ];
  if (process.env.GOBIN) candidates.push(path.join(process.env.GOBIN, 'ferretdb'));
  const gopath = process.env.GOPATH || path.join(os.homedir(), 'go');
  candidates.push(...gopath.split(path.delimiter).map((p) => path.join(p, 'bin', 'ferretdb')));
  for (const c of new Set(candidates)) {
    if ((await binaryVersion(c)) === cfg.ferretdb.version) return c;
  }
  return undefined;
}

type BuildPaths = { home: string; ownBin: string; buildLog: string; version: string };

/**
 * `go install github.com/FerretDB/FerretDB/cmd/ferretdb@<v>` builds a binary that panics at
 * start ("Invalid build/version/version.txt file content"): the module zip lacks the generated
 * build/version/version.txt. So we copy the module source out of the module cache, write that
 * file, and `go build` it into <dir>/bin/ferretdb.
 */
async function build(b: BuildPaths, ctx: Ctx): Promise<string> {
  const { home, ownBin, buildLog, version } = b;
  const go = goBin() as string;
  const env = { ...process.env, GO111MODULE: 'on', GOFLAGS: '-buildvcs=false' };
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(path.dirname(ownBin), { recursive: true });
  fs.writeFileSync(buildLog, '');
  const t0 = Date.now();
  ctx.say(`building ${version} with go (first time: a few minutes); log: ${buildLog}`);
  return ticking(
    ctx.say,
    'building',
    async () => {
      const json = await capture(go, ['mod', 'download', '-json', `${MODULE}@${version}`], {
        cwd: home,
        env,
        timeoutMs: 10 * 60_000,
      }).catch((e: { output?: string; message: string }) => {
        throw new StackError(
          `ferretdb: go mod download ${MODULE}@${version} failed`,
          (e.output ?? e.message).trim(),
        );
      });
      const dir = (JSON.parse(json.slice(json.indexOf('{'))) as { Dir?: string }).Dir;
      if (!dir) throw new StackError(`ferretdb: go mod download gave no source dir`, json);
      const src = path.join(home, `src-${version}`);
      fs.rmSync(src, { recursive: true, force: true });
      fs.cpSync(dir, src, { recursive: true });
      makeWritable(src);
      fs.writeFileSync(path.join(src, 'build', 'version', 'version.txt'), `${version}\n`);
      const tmpBin = `${ownBin}.partial`;
      await runLogged(
        `ferretdb: go build ${version}`,
        go,
        ['build', '-v', '-trimpath', '-o', tmpBin, './cmd/ferretdb'],
        buildLog,
        { cwd: src, env },
      );
      fs.renameSync(tmpBin, ownBin);
      fs.rmSync(src, { recursive: true, force: true });
      const got = await binaryVersion(ownBin);
      if (got !== version) {
        throw new StackError(`ferretdb: built ${ownBin} but it reports version ${got ?? '?'}`);
      }
      ctx.say(`built ${ownBin} in ${seconds(t0)} s`);
      return ownBin;
    },
    buildLog,
  );
}

/** Ready when the server answers a ping. */
async function ping(host: string, port: number, timeoutMs: number): Promise<void> {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(`mongodb://${host}:${port}/?directConnection=true`, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    socketTimeoutMS: timeoutMs,
    monitorCommands: false,
  });
  try {
    await client.connect();
    const res = await client.db('admin').command({ ping: 1 });
    if (res.ok !== 1) throw new Error(`ping answered ${JSON.stringify(res)}`);
  } finally {
    await client.close().catch(() => undefined);
  }
}

export function ferretdb(cfg: StackConfig): Service {
  const { port, version } = cfg.ferretdb;
  const home = path.join(cfg.dir, 'ferretdb');
  const dataDir = path.join(home, 'data');
  const stateDir = path.join(home, 'state');
  const logFile = path.join(home, 'ferretdb.log');
  const buildLog = path.join(home, 'build.log');
  const pidFile = path.join(cfg.dir, 'ferretdb.pid');
  const ownBin = path.join(cfg.dir, 'bin', 'ferretdb');
  const paths: BuildPaths = { home, ownBin, buildLog, version };
  let bin: string | undefined;

  const findBinary = () => findFerretdb(cfg);

  return {
    name: 'ferretdb',
    port,
    marker: 'ferretdb',
    pidFile,
    logFile,
    readyTimeoutMs: 60_000,
    describe: () => `(FerretDB ${version}, SQLite backend, mongodb://${cfg.host}:${port}/)`,

    probe: (timeoutMs: number) => ping(cfg.host, port, timeoutMs),

    async needs(): Promise<Needs> {
      bin = await findBinary();
      if (bin || goBin()) return { debs: [], missing: [] };
      return {
        debs: [],
        missing: [
          `go not found (needed once to build FerretDB ${version}): install Go 1.22+ (https://go.dev/doc/install)`,
        ],
      };
    },

    async prepare(ctx: Ctx): Promise<void> {
      bin ??= await findBinary();
      if (!bin) bin = await build(paths, ctx);
      else if (bin !== ownBin) ctx.say(`using existing ${bin} (${version})`);
      fs.mkdirSync(dataDir, { recursive: true });
      fs.mkdirSync(stateDir, { recursive: true });
    },

    start(ctx: Ctx) {
      if (!bin) throw new StackError('ferretdb: no binary (prepare did not run)');
      ctx.say(`starting FerretDB ${version} (SQLite) on ${cfg.host}:${port}`);
      return startDetached(
        bin,
        [
          '--handler=sqlite',
          `--sqlite-url=file:${dataDir}/`,
          `--listen-addr=${cfg.host}:${port}`,
          `--state-dir=${stateDir}`,
          '--telemetry=disable',
          '--log-level=warn',
          '--debug-addr=-',
        ],
        { logFile, pidFile, cwd: home },
      );
    },
  };
}
