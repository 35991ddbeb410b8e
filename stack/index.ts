import fs from 'node:fs';
import path from 'node:path';
import { aptInstall, aptProblem } from './apt.ts';
import { stackConfig, type Env, type StackConfig } from './config.ts';
import { ferretdb, findFerretdb } from './ferretdb.ts';
import { kafka } from './kafka.ts';
import { mariadb } from './mariadb.ts';
import {
  indent,
  isAlive,
  ourPid,
  portOpen,
  readPid,
  seconds,
  sleep,
  StackError,
  stopPid,
  tail,
  ticking,
  type Print,
  type Started,
} from './proc.ts';
import { redis } from './redis.ts';
import type { Ctx, Service, ServiceName } from './service.ts';

export { stackConfig, StackError, findFerretdb, isAlive, portOpen };
export type { Env, Print, ServiceName, StackConfig };

export type StackCommand = 'up' | 'down' | 'status';

export interface StackOptions {
  /** Environment to read STREAMING_STACK_* from (default process.env). */
  env?: Env;
  /** Output sink, one line per call (default console.log). */
  print?: Print;
  /** Only these services (default all four). */
  services?: ServiceName[];
}

export const SERVICE_NAMES: readonly ServiceName[] = ['mariadb', 'redis', 'kafka', 'ferretdb'];

function services(cfg: StackConfig, only?: ServiceName[]): Service[] {
  const all = [mariadb(cfg), redis(cfg), kafka(cfg), ferretdb(cfg)];
  if (!only?.length) return all;
  for (const n of only) {
    if (!SERVICE_NAMES.includes(n)) {
      throw new StackError(`unknown service ${n} (known: ${SERVICE_NAMES.join(', ')})`);
    }
  }
  return all.filter((s) => only.includes(s.name));
}

const pad = (s: string, n: number): string => s.padEnd(n);
const NAME_W = 9;

function line(svc: Service, cfg: StackConfig, state: string, note: string): string {
  return `${pad(svc.name, NAME_W)}${pad(state, 5)} ${pad(`${cfg.host}:${svc.port}`, 16)} ${note}`.trimEnd();
}

async function answers(svc: Service, timeoutMs: number): Promise<string | undefined> {
  try {
    await svc.probe(timeoutMs);
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

function logTails(svc: Service): string {
  const parts: string[] = [];
  for (const f of [svc.logFile, svc.outFile]) {
    if (!f) continue;
    const t = tail(f, 15);
    if (t) parts.push(`--- last lines of ${f}\n${t}`);
  }
  return parts.join('\n');
}

/** Exclusive lock on the stack folder so two `up`/`down` runs do not race. */
function lock(cfg: StackConfig): () => void {
  fs.mkdirSync(cfg.dir, { recursive: true });
  const file = path.join(cfg.dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readPid(file);
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new StackError(`another stack command (pid ${holder}) is running on ${cfg.dir}`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new StackError(`cannot lock ${file}`);
}

type Outcome = { ok: true; note: string } | { ok: false; error: string };

async function waitReady(
  svc: Service,
  cfg: StackConfig,
  say: Print,
  pid: number,
  started?: Started,
): Promise<void> {
  const t0 = Date.now();
  const deadline = t0 + svc.readyTimeoutMs;
  const probe = svc.readyProbe?.bind(svc) ?? svc.probe.bind(svc);
  let exited: string | undefined;
  void started?.exited.then((how) => (exited = how));
  let lastErr = '';
  await ticking(say, `waiting for ${cfg.host}:${svc.port}`, async () => {
    for (;;) {
      if (exited !== undefined || !isAlive(pid)) {
        fs.rmSync(svc.pidFile, { force: true });
        throw new StackError(
          `${svc.name} exited during start-up (${exited ?? 'process gone'}); log: ${svc.logFile}`,
          logTails(svc),
        );
      }
      try {
        await probe(2000);
        return;
      } catch (err) {
        lastErr = (err as Error).message;
      }
      if (Date.now() > deadline) {
        say(`giving up; stopping pid ${pid}`);
        await stopPid(pid, 5000);
        fs.rmSync(svc.pidFile, { force: true });
        throw new StackError(
          `${svc.name} did not answer on ${cfg.host}:${svc.port} within ${Math.round(svc.readyTimeoutMs / 1000)} s (last error: ${lastErr}); log: ${svc.logFile}`,
          logTails(svc),
        );
      }
      await sleep(400);
    }
  });
  say(`answering after ${seconds(t0)} s`);
}

/**
 * What is already there: our live process (answering, or still starting), someone else's
 * server on the port (external), or something on the port that is not this service (conflict).
 * Undefined when the service has to be started.
 */
async function existing(svc: Service, ctx: Ctx): Promise<Outcome | undefined> {
  const { cfg, say } = ctx;
  const pid = ourPid(svc.pidFile, svc.marker);
  if (pid !== undefined) {
    if ((await answers(svc, 2000)) === undefined) {
      return { ok: true, note: `pid ${pid}  ${svc.describe()}` };
    }
    say(`pid ${pid} is running but not answering yet; waiting for it`);
    await waitReady(svc, cfg, say, pid);
    await svc.afterReady?.(ctx, false);
    return { ok: true, note: `pid ${pid}  ${svc.describe()}` };
  }
  if (!(await portOpen(cfg.host, svc.port))) return undefined;
  const why = await answers(svc, 3000);
  // a MariaDB that refuses our user is still a MariaDB (afterReady tries to bootstrap it)
  if (
    why === undefined ||
    (svc.name === 'mariadb' && /access denied|unknown database/i.test(why))
  ) {
    say(`${cfg.host}:${svc.port} already answers and is not ours: using it (external)`);
    await svc.afterReady?.(ctx, true);
    return { ok: true, note: '(external)' };
  }
  return {
    ok: false,
    error: `port ${cfg.host}:${svc.port} is taken by another program that does not answer as ${svc.name} (${why})`,
  };
}

async function bringUp(svc: Service, ctx: Ctx): Promise<Outcome> {
  const t0 = Date.now();
  await svc.prepare(ctx);
  // a package postinst (or another process) may have started one meanwhile
  const meanwhile = await existing(svc, ctx);
  if (meanwhile) return meanwhile;
  const started = await svc.start(ctx);
  await waitReady(svc, ctx.cfg, ctx.say, started.pid, started);
  await svc.afterReady?.(ctx, false);
  ctx.say(`up in ${seconds(t0)} s`);
  return { ok: true, note: `pid ${started.pid}  ${svc.describe()}` };
}

/** Runs `fn`, turning a StackError into a failed Outcome (printed with its detail). */
async function guarded(
  say: Print,
  fn: () => Promise<Outcome | undefined>,
): Promise<Outcome | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    say(`FAILED: ${err.message}`);
    if (err.detail) for (const l of indent(err.detail).split('\n')) say(l);
    return { ok: false, error: err.message };
  }
}

async function up(cfg: StackConfig, svcs: Service[], print: Print): Promise<number> {
  const t0 = Date.now();
  let aptRun: Promise<void> | undefined;
  let debs: string[] = [];
  const apt = (): Promise<void> =>
    debs.length
      ? (aptRun ??= aptInstall(debs, cfg.dir, (l) => print(`[apt] ${l}`)))
      : Promise.resolve();
  const ctxs = svcs.map((svc): Ctx => ({ cfg, apt, say: (l) => print(`[${svc.name}] ${l}`) }));
  const ctxOf = (i: number): Ctx => ctxs[i] as Ctx;

  // 1. what is already running (ours or external): skip it
  const outcomes = await Promise.all(
    svcs.map((svc, i) => guarded(ctxOf(i).say, () => existing(svc, ctxOf(i)))),
  );
  const todo = svcs.filter((_, i) => outcomes[i] === undefined);

  // 2. one preflight for everything we must start, so a missing tool fails before anything starts
  const needs = await Promise.all(todo.map((s) => s.needs()));
  debs = [...new Set(needs.flatMap((n) => n.debs))];
  const aptWhy = await aptProblem(debs);
  const missing = [...(aptWhy ? [aptWhy] : []), ...needs.flatMap((n) => n.missing)];
  if (missing.length) throw new StackError(missing.join('\n'));

  // 3. install / fetch / build / start in parallel (apt-get runs once, shared)
  await Promise.all(
    svcs.map(async (svc, i) => {
      if (outcomes[i] !== undefined) return;
      outcomes[i] = await guarded(ctxOf(i).say, () => bringUp(svc, ctxOf(i)));
    }),
  );
  print('');
  svcs.forEach((svc, i) => {
    const o = outcomes[i] as Outcome;
    print(o.ok ? line(svc, cfg, 'up', o.note) : line(svc, cfg, 'FAIL', o.error));
  });
  const failed = outcomes.filter((o) => !o?.ok).length;
  print(
    failed
      ? `stack: ${failed} of ${svcs.length} services failed (${seconds(t0)} s); data in ${cfg.dir}`
      : `stack up in ${seconds(t0)} s; data in ${cfg.dir}`,
  );
  return failed ? 1 : 0;
}

async function down(cfg: StackConfig, svcs: Service[], print: Print): Promise<number> {
  await Promise.all(
    svcs.map(async (svc) => {
      const t0 = Date.now();
      const pid = ourPid(svc.pidFile, svc.marker);
      if (pid === undefined) {
        const ext = await portOpen(cfg.host, svc.port, 500);
        print(
          line(
            svc,
            cfg,
            ext ? 'up' : 'down',
            ext ? '(external: not started by us, left running)' : '',
          ),
        );
        return;
      }
      const how = await stopPid(pid);
      fs.rmSync(svc.pidFile, { force: true });
      print(
        line(
          svc,
          cfg,
          'down',
          `stopped pid ${pid} (${how === 'killed' ? 'SIGKILL' : 'SIGTERM'}, ${seconds(t0)} s)`,
        ),
      );
    }),
  );
  return 0;
}

async function status(cfg: StackConfig, svcs: Service[], print: Print): Promise<number> {
  const rows = await Promise.all(
    svcs.map(async (svc) => {
      const pid = ourPid(svc.pidFile, svc.marker);
      const why = await answers(svc, 2000);
      if (why === undefined) {
        const note = pid === undefined ? '(external)' : `pid ${pid}  ${svc.describe()}`;
        return { up: true, text: line(svc, cfg, 'up', note) };
      }
      const note =
        pid === undefined
          ? ''
          : `pid ${pid} running but not answering: ${why}; log: ${svc.logFile}`;
      return { up: false, text: line(svc, cfg, 'down', note) };
    }),
  );
  for (const r of rows) print(r.text);
  return rows.every((r) => r.up) ? 0 : 1;
}

/**
 * The pid of each of these services that runs as ours (started by `stack up`
 * from this folder); external servers and stopped services are absent.
 */
export function stackPids(
  opts: Pick<StackOptions, 'env' | 'services'> = {},
): Partial<Record<ServiceName, number>> {
  const cfg = stackConfig(opts.env);
  const pids: Partial<Record<ServiceName, number>> = {};
  for (const svc of services(cfg, opts.services)) {
    const pid = ourPid(svc.pidFile, svc.marker);
    if (pid !== undefined) pids[svc.name] = pid;
  }
  return pids;
}

/**
 * Starts (`up`), stops (`down`) or reports (`status`) the local services: MariaDB, Redis,
 * Kafka (KRaft) and FerretDB on 127.0.0.1, with data under `.stack/` (STREAMING_STACK_DIR).
 * Returns the process exit code. Expected failures (missing tools, a service that does not
 * come up) are printed and give 1; unexpected errors are thrown.
 */
export async function stack(command: StackCommand, opts: StackOptions = {}): Promise<number> {
  const print = opts.print ?? ((l: string) => console.log(l));
  try {
    const cfg = stackConfig(opts.env);
    const svcs = services(cfg, opts.services);
    if (command === 'status') return await status(cfg, svcs, print);
    if (command !== 'up' && command !== 'down') {
      throw new StackError(`unknown command ${String(command)} (use up, down or status)`);
    }
    const unlock = lock(cfg);
    try {
      return command === 'up' ? await up(cfg, svcs, print) : await down(cfg, svcs, print);
    } finally {
      unlock();
    }
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    for (const l of err.message.split('\n')) print(`stack: ${l}`);
    if (err.detail) print(indent(err.detail));
    return 1;
  }
}
