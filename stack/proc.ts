import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** An expected failure: printed as one line (plus an optional log tail), no stack trace. */
export class StackError extends Error {
  readonly detail: string | undefined;
  constructor(message: string, detail?: string) {
    super(message);
    this.name = 'StackError';
    this.detail = detail;
  }
}

export type Print = (line: string) => void;

import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export const seconds = (sinceMs: number): string => {
  const s = (Date.now() - sinceMs) / 1000;
  return s < 10 ? s.toFixed(1) : String(Math.round(s));
};

/** ANSI colour/cursor escapes (Maven prints some even with -B). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of the first executable named `names[i]` on PATH (plus the sbin folders), or undefined. */
export function which(...names: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN];
  for (const name of names) {
    for (const d of dirs) {
      const p = path.join(d, name);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) return p;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** Runs a short command and returns stdout+stderr (rejects with both on failure). */
export function capture(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        env: opts.env,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const out = `${stdout}${stderr}`;
        if (err) reject(Object.assign(err, { output: out }));
        else resolve(out);
      },
    );
  });
}

/** Last `n` non-empty lines of a file ('' when missing). Reads at most the last 64 KiB. */
export function tail(file: string, n = 20): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return buf
        .toString('utf8')
        .split(/\r?\n|\r/)
        .filter((l) => l.trim() !== '')
        .slice(-n)
        .join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

export function indent(text: string, prefix = '    '): string {
  return text
    .split('\n')
    .map((l) => prefix + l)
    .join('\n');
}

/**
 * Runs a (long) command to completion with stdout+stderr appended to `logFile`.
 * Rejects with a StackError carrying the log tail when it exits non-zero.
 */
export function runLogged(
  what: string,
  cmd: string,
  args: string[],
  logFile: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `\n$ ${[cmd, ...args].join(' ')}\n`);
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', fd, fd] });
    } catch (err) {
      fs.closeSync(fd);
      reject(err);
      return;
    }
    child.on('error', (err) => {
      fs.closeSync(fd);
      reject(new StackError(`${what}: cannot run ${cmd}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      fs.closeSync(fd);
      if (code === 0) resolve();
      else
        reject(
          new StackError(
            `${what} failed (${signal ?? `exit code ${code}`}); log: ${logFile}`,
            tail(logFile),
          ),
        );
    });
  });
}

/** Runs `fn`, printing an elapsed-time line every ~10 s (with the last line of `logFile` if given). */
export async function ticking<T>(
  print: Print,
  prefix: string,
  fn: () => Promise<T>,
  logFile?: string,
): Promise<T> {
  const t0 = Date.now();
  const timer = setInterval(() => {
    let last = logFile ? tail(logFile, 1).replace(ANSI, '').trim() : '';
    if (last.length > 90) last = `${last.slice(0, 87)}...`;
    print(`${prefix} ... ${seconds(t0)} s${last ? `  | ${last}` : ''}`);
  }, 10_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Whether something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped) is not alive for our purposes.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** The command line of a live process, or undefined when /proc is unavailable. */
function cmdline(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

export function readPid(pidFile: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid recorded in `pidFile` if that process is alive and still looks like ours
 * (its command line contains `marker`, which guards against pid reuse). Stale files are removed.
 */
export function ourPid(pidFile: string, marker: string): number | undefined {
  const pid = readPid(pidFile);
  if (pid === undefined) return undefined;
  if (isAlive(pid)) {
    const cl = cmdline(pid);
    if (cl === undefined || cl.includes(marker)) return pid;
  }
  fs.rmSync(pidFile, { force: true });
  return undefined;
}

export interface Started {
  pid: number;
  /** Resolves with a description once the process has exited (never resolves while it runs). */
  exited: Promise<string>;
}

/**
 * Starts a long-running process detached from us (own process group, stdio to `logFile`,
 * unref'd) and records its pid in `pidFile`.
 */
export function startDetached(
  cmd: string,
  args: string[],
  opts: { logFile: string; pidFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<Started> {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  fs.writeSync(fd, `\n--- ${new Date().toISOString()} $ ${[cmd, ...args].join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    const exited = new Promise<string>((res) => {
      child.once('exit', (code, signal) =>
        res(signal ? `killed by ${signal}` : `exit code ${code}`),
      );
    });
    child.once('error', (err) => reject(new StackError(`cannot start ${cmd}: ${err.message}`)));
    child.once('spawn', () => {
      const pid = child.pid as number;
      fs.writeFileSync(opts.pidFile, `${pid}\n`);
      child.unref();
      resolve({ pid, exited });
    });
  });
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Only ever signals this one pid. */
export async function stopPid(pid: number, graceMs = 15_000): Promise<'terminated' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'terminated';
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return 'terminated';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'terminated';
  }
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return 'killed';
}
