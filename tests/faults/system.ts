// The whole system as `npm start` runs it (the real CLI, its supervised
// children), on a private stack of its own (own data folder and ports, via
// stack/index.ts), so that restarting a service here never touches the stack
// the other test files share. Sends go through the command API with
// Idempotency-Keys and are retried through 503s and dropped connections, as
// a careful client does, so every message is accepted exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { ServiceName } from '../../stack/index.ts';
import { defaultSupplierAccounts, loadConfig } from '../../platform/config/index.ts';
import { openRuntime, type Runtime } from '../../cli/runtime.ts';
import {
  aggregate,
  approvedBindings,
  approvedSignatureAccounts,
  signatureDecider,
  signatureStream,
  templateDecider,
  templateStream,
  type SignatureEvent,
  type TemplateEvent,
} from '../../domain/index.ts';
import { privateStack, type PrivateStack } from '../support/privateStack.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const main = path.join(repo, 'cli/main.ts');

/** Ports no shared service, other test file or helper uses. */
const PORTS = {
  mysql: 3996,
  redis: 6996,
  kafka: 9996,
  kafkaController: 9997,
  mongo: 27996,
  command: 18380,
  query: 18381,
  grpc: 18382,
  simulator: 18390,
  metrics: 18391,
};

export const urls = {
  command: `http://127.0.0.1:${PORTS.command}`,
  query: `http://127.0.0.1:${PORTS.query}`,
  simulator: `http://127.0.0.1:${PORTS.simulator}`,
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Whether the gRPC service accepts a TCP connection (it has no HTTP /readyz). */
export function grpcAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: PORTS.grpc });
    socket.setTimeout(5_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Reply {
  status: number;
  json: Record<string, unknown>;
  retryAfter: string | null;
}

export async function call(
  url: string,
  method = 'GET',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}

/** What the background sender saw while a window was open (one test's fault). */
export interface SendWindow {
  /** Accepted (202) in this window. */
  accepted: number;
  /** Answers other than 202, by status (503 during outages). */
  statuses: Record<string, number>;
  /** Requests cut off (a killed process) and retried. */
  networkErrors: number;
  /** Answers a client must never get (not 202, not 503 with Retry-After). */
  unexpected: string[];
}

const FINAL = new Set(['delivered', 'undelivered', 'failed', 'expired']);

export class System {
  readonly env: Record<string, string>;
  readonly stack: PrivateStack;
  private child: ChildProcess | undefined;
  output = '';
  rt!: Runtime;
  token = '';
  templateCode = '';
  readonly username = `faults${randomBytes(4).toString('hex')}`;
  readonly password = 'correct horse battery';

  private constructor(stack: PrivateStack, env: Record<string, string>) {
    this.stack = stack;
    this.env = env;
  }

  /**
   * Up: the private stack, a fresh database, `streaming start --no-stack`,
   * a tenant, its signature and a template, both approved by the simulated
   * vendors (as the README's first request does).
   */
  static async start(): Promise<System> {
    const stack = await privateStack('faults', PORTS, ['mariadb', 'redis', 'kafka', 'ferretdb']);
    const suffix = randomBytes(4).toString('hex');
    const database = `streaming_faults_${suffix}`;
    const admin = await mysql.createConnection({
      host: '127.0.0.1',
      port: PORTS.mysql,
      user: 'root',
    });
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.query(`GRANT ALL ON ${database}.* TO 'streaming'@'%'`).catch(() => undefined);
    await admin.end();
    const env: Record<string, string> = {
      ...stack.stackEnv,
      STREAMING_MYSQL_URL: `mysql://streaming:streaming@127.0.0.1:${PORTS.mysql}/${database}`,
      STREAMING_REDIS_URL: `redis://127.0.0.1:${PORTS.redis}/0`,
      STREAMING_MONGO_URL: `mongodb://127.0.0.1:${PORTS.mongo}/${database}`,
      STREAMING_KAFKA_BROKERS: `127.0.0.1:${PORTS.kafka}`,
      STREAMING_COMMAND_PORT: String(PORTS.command),
      STREAMING_QUERY_PORT: String(PORTS.query),
      STREAMING_GRPC_PORT: String(PORTS.grpc),
      STREAMING_SIMULATOR_PORT: String(PORTS.simulator),
      // not the default 9464, which a running `npm start` holds
      STREAMING_METRICS_PORT: String(PORTS.metrics),
      // the suite's load is not about the caps: accounts and tenant take what it sends
      STREAMING_SUPPLIERS: JSON.stringify(
        defaultSupplierAccounts.map((a) => ({
          ...a,
          endpoint: `${urls.simulator}/`,
          maxPerSecond: 10_000,
        })),
      ),
      STREAMING_TENANT_MOBILE_MAX_PER_DAY: '0',
      // the simulator's status query does not lag behind its sends (no `queryLagMs`), so a
      // "not found" after a call cut by a SIGKILL is true at once, as the window is there for
      STREAMING_RECEIPT_RECONCILE_WINDOW: '1s',
      // a receipt the simulator gave up pushing during an outage is pulled soon
      STREAMING_RECEIPT_PULL_AFTER: '15s',
      // info: the lines saying a component recovered a dependency (the suite checks them)
      STREAMING_LOG_LEVEL: 'info',
    };
    const system = new System(stack, env);
    system.rt = await openRuntime({
      service: 'fault-suite',
      config: loadConfig({ ...process.env, ...env, STREAMING_LOG_LEVEL: 'error' }),
    });
    await system.rt.redis.flushdb();
    system.spawn();
    await system.waitReady();
    await system.vendorPushRetries();
    const { username, password } = system;
    const reg = await call(`${urls.command}/v1/users`, 'POST', { username, password });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.json)}`);
    const login = await call(`${urls.command}/v1/sessions`, 'POST', { username, password });
    system.token = String(login.json.token);
    const sig = await call(
      `${urls.command}/v1/signatures`,
      'POST',
      { name: 'Acme' },
      system.auth(),
    );
    if (sig.status !== 201 && sig.status !== 202) {
      throw new Error(`signature: ${sig.status} ${JSON.stringify(sig.json)}`);
    }
    const tpl = await call(
      `${urls.command}/v1/templates`,
      'POST',
      {
        name: 'notice',
        kind: 'notification',
        signature: 'Acme',
        content: 'Hi ${name}',
        policy: {},
      },
      system.auth(),
    );
    if (tpl.status !== 201) throw new Error(`template: ${tpl.status} ${JSON.stringify(tpl.json)}`);
    system.templateCode = String(tpl.json.templateCode);
    await system.waitApproved();
    return system;
  }

  /** A login as the suite's tenant. */
  login(): Promise<Reply> {
    return call(`${urls.command}/v1/sessions`, 'POST', {
      username: this.username,
      password: this.password,
    });
  }

  /** Every account approved the template and the signature (the reviewer polled the simulator). */
  private async waitApproved(): Promise<void> {
    const es = this.rt.eventStore;
    await eventually('the template and signature approved by every account', async () => {
      const t = aggregate(
        templateDecider,
        (await es.readStream(templateStream(this.templateCode))) as unknown as TemplateEvent[],
      );
      if (!t.exists) return undefined;
      const s = aggregate(
        signatureDecider,
        (await es.readStream(
          signatureStream(t.tenantId, t.signature),
        )) as unknown as SignatureEvent[],
      );
      const signed = new Set(approvedSignatureAccounts(s));
      const both = approvedBindings(t).filter((b) => signed.has(b.account));
      return both.length === t.suppliers.length ? true : undefined;
    });
  }

  /**
   * The vendors retry a receipt push that fails for minutes (Aliyun: after 1,
   * 5 and 10 minutes); the simulator's default scales that down to under 2 s,
   * shorter than an outage here. Retries after 0.3, 1.5, 3, 9 and then every
   * 18 s, 8 in all (86 s), as a vendor does in the small, so a receipt pushed
   * during an outage arrives.
   */
  private async vendorPushRetries(): Promise<void> {
    const list = await call(`${urls.simulator}/admin/accounts`);
    for (const account of list.json.accounts as Record<string, unknown>[]) {
      // a PUT changes the fields it names and keeps the others
      const r = await call(`${urls.simulator}/admin/accounts/${String(account.id)}`, 'PUT', {
        behaviour: { pushRetries: 8, pushRetryBaseMs: 300 },
      });
      if (r.status !== 200)
        throw new Error(`simulator account: ${r.status} ${JSON.stringify(r.json)}`);
    }
  }

  auth(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  private spawn(): void {
    const child = spawn(process.execPath, [main, 'start', '--no-stack'], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
  }

  async waitReady(ms = 120_000): Promise<void> {
    await eventually(
      'both services ready',
      async () => {
        const [a, b, g] = await Promise.all([
          fetch(`${urls.command}/readyz`),
          fetch(`${urls.query}/readyz`),
          grpcAnswers(),
        ]);
        return a.ok && b.ok && g ? true : undefined;
      },
      ms,
    );
  }

  /** The pid of a supervised child, from the supervisor's latest "started <name> (pid N)" line. */
  childPid(name: string): number | undefined {
    const matches = [...this.output.matchAll(new RegExp(`started ${name} \\(pid (\\d+)\\)`, 'g'))];
    const last = matches[matches.length - 1];
    return last ? Number(last[1]) : undefined;
  }

  /** Statuses of the messages in the history read model. */
  async statuses(ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 500) {
      const [rows] = await this.rt.mysql.query<RowDataPacket[]>(
        'SELECT message_id, status FROM message_history WHERE message_id IN (?)',
        [ids.slice(i, i + 500)],
      );
      for (const r of rows) out.set(String(r.message_id), String(r.status));
    }
    return out;
  }

  async waitFinal(ids: readonly string[], ms = 240_000): Promise<Map<string, string>> {
    let last = new Map<string, string>();
    try {
      await eventually(
        'every message final',
        async () => {
          last = await this.statuses(ids);
          return ids.every((id) => FINAL.has(last.get(id) ?? '')) ? true : undefined;
        },
        ms,
      );
    } catch (err) {
      const counts: Record<string, number> = {};
      for (const id of ids) {
        const s = last.get(id) ?? 'absent';
        counts[s] = (counts[s] ?? 0) + 1;
      }
      throw new Error(`${(err as Error).message}: ${JSON.stringify(counts)}`, { cause: err });
    }
    return last;
  }

  /** How many times the simulator received each message. */
  async received(): Promise<Record<string, number>> {
    const r = await call(`${urls.simulator}/admin/received`);
    return r.json.byMessageId as Record<string, number>;
  }

  /** Accepted messages in the event store (sms.accepted events, by message). */
  async acceptedInStore(): Promise<Map<string, number>> {
    const [rows] = await this.rt.mysql.query<RowDataPacket[]>(
      "SELECT stream_id, COUNT(*) AS n FROM es_events WHERE type LIKE 'sms.accepted%' GROUP BY stream_id",
    );
    return new Map(rows.map((r) => [String(r.stream_id).replace(/^message-/, ''), Number(r.n)]));
  }

  /**
   * Stops a service, keeps it down at least `minDownMs` and until `until`
   * holds (what the test must see during the outage), then starts it again.
   */
  async outage(
    name: ServiceName,
    minDownMs: number,
    until: () => boolean | Promise<boolean> = () => true,
    what = 'the outage seen',
  ): Promise<void> {
    await this.stack.down([name]);
    const downAt = Date.now();
    try {
      await eventually(
        what,
        async () => (Date.now() - downAt >= minDownMs && (await until()) ? true : undefined),
        120_000,
      );
    } finally {
      await this.stack.up([name]);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await once(child, 'exit');
      clearTimeout(timer);
    }
    await this.rt?.close();
    await writeFile(
      path.join(this.stack.stackEnv.STREAMING_STACK_DIR!, 'last-run.log'),
      this.output,
    ).catch(() => undefined);
    // the private stack goes down with the suite: nothing of it stays running
    await this.stack.down();
  }
}

/**
 * Sends through the command API in the background, at about `ratePerSecond`,
 * `concurrency` at a time, until paused. Each send has its own
 * Idempotency-Key and mobile, and is retried through 503s (after its
 * Retry-After) and cut connections until accepted, as a careful client does.
 */
export class Sender {
  /** Message ids of every accepted send, in order. */
  readonly accepted: string[] = [];
  private readonly windows = new Set<SendWindow>();
  private running = false;
  private workers: Promise<void>[] = [];
  private seq = 0;
  private readonly label = randomBytes(4).toString('hex');

  private readonly system: System;
  /** Sends per second; may change while it runs. */
  ratePerSecond: number;
  private readonly concurrency: number;

  constructor(system: System, ratePerSecond = 20, concurrency = 4) {
    this.system = system;
    this.ratePerSecond = ratePerSecond;
    this.concurrency = concurrency;
  }

  /** Starts recording what the sends see, until closed. */
  window(): SendWindow & { close(): void } {
    const w: SendWindow = { accepted: 0, statuses: {}, networkErrors: 0, unexpected: [] };
    this.windows.add(w);
    return Object.assign(w, { close: () => void this.windows.delete(w) });
  }

  resume(): void {
    if (this.running) return;
    this.running = true;
    this.workers = Array.from({ length: this.concurrency }, () => this.worker());
  }

  /** Stops starting sends and waits for those in flight to be accepted. */
  async pause(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private note(f: (w: SendWindow) => void): void {
    for (const w of this.windows) f(w);
  }

  private async worker(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      await this.sendOne(this.seq++);
      const wait = (this.concurrency * 1000) / this.ratePerSecond - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
  }

  private async sendOne(i: number): Promise<void> {
    const key = `${this.label}-${i}`;
    const mobile = `139${String(i).padStart(8, '0')}`;
    for (;;) {
      let reply: Reply;
      try {
        reply = await call(
          `${urls.command}/v1/messages`,
          'POST',
          { templateCode: this.system.templateCode, mobile, params: { name: 'x' } },
          { ...this.system.auth(), 'idempotency-key': key },
        );
      } catch {
        this.note((w) => w.networkErrors++);
        await sleep(500);
        continue;
      }
      if (reply.status === 202) {
        this.accepted.push(String(reply.json.messageId));
        this.note((w) => w.accepted++);
        return;
      }
      this.note((w) => (w.statuses[reply.status] = (w.statuses[reply.status] ?? 0) + 1));
      if (
        reply.status !== 503 ||
        reply.json.code !== 'DEPENDENCY_UNAVAILABLE' ||
        !reply.retryAfter
      ) {
        const text = `send ${key}: ${reply.status} ${reply.retryAfter === null ? '' : `(Retry-After ${reply.retryAfter}) `}${JSON.stringify(reply.json)}`;
        this.note((w) => w.unexpected.push(text));
        return;
      }
      await sleep(Math.min(2_000, Number(reply.retryAfter) * 1000));
    }
  }
}

/** An API a watch reads while a fault runs: which service, and the path. */
export interface ApiProbe {
  name: string;
  url: () => string | undefined;
}

/**
 * Whether an answer is one a client may get during an outage: a success, or
 * 503 DEPENDENCY_UNAVAILABLE (or READ_MODEL_LAGGING, a read that waited for
 * its position) with Retry-After. Never a 500, never a 503 without a code.
 */
export function outageAnswerProblem(reply: Reply): string | undefined {
  if (reply.status >= 200 && reply.status < 300) return undefined;
  const code = String(reply.json.code ?? '');
  if (
    reply.status === 503 &&
    (code === 'DEPENDENCY_UNAVAILABLE' || code === 'READ_MODEL_LAGGING') &&
    reply.retryAfter !== null &&
    Number(reply.retryAfter) > 0
  ) {
    return undefined;
  }
  return `${reply.status} ${code || JSON.stringify(reply.json).slice(0, 200)} (Retry-After ${reply.retryAfter})`;
}

/**
 * Polls /readyz of both services and /healthz/pipeline while a fault runs,
 * and remembers what each said; and reads the APIs it is given, keeping
 * every answer a client must not get during an outage.
 */
export class ReadinessWatch {
  seen = {
    command: new Set<string>(),
    query: new Set<string>(),
    grpc: new Set<string>(),
    pipeline: new Set<string>(),
  };
  /** Parts that reported an error (a dependency they lack) at some point, with the error. */
  erroredParts = new Map<string, string>();
  /** Processes (pids) each part was reported by. */
  reporters = new Map<string, Set<number>>();
  /** The APIs' answers, by probe: how many of each status. */
  answers = new Map<string, Record<string, number>>();
  /** Answers no client may get (a 500, a 503 without its code or Retry-After). */
  badAnswers: string[] = [];
  private running = true;
  private loop: Promise<void>;
  private readonly auth: Record<string, string>;

  constructor(auth: Record<string, string> = {}, apis: readonly ApiProbe[] = []) {
    this.auth = auth;
    this.loop = (async () => {
      while (this.running) {
        await Promise.all([
          this.probe('command', `${urls.command}/readyz`),
          this.probe('query', `${urls.query}/readyz`),
          grpcAnswers().then((up) => void this.seen.grpc.add(up ? 'ready' : 'not-ready')),
          this.pipeline(),
          ...apis.map((api) => this.read(api)),
        ]);
        await sleep(200);
      }
    })();
  }

  private async read(api: ApiProbe) {
    const url = api.url();
    if (url === undefined) return;
    let reply: Reply;
    try {
      reply = await call(url, 'GET', undefined, this.auth);
    } catch {
      return; // not answering (a killed process): readiness says so
    }
    const seen = this.answers.get(api.name) ?? {};
    seen[reply.status] = (seen[reply.status] ?? 0) + 1;
    this.answers.set(api.name, seen);
    const problem = outageAnswerProblem(reply);
    if (problem) this.badAnswers.push(`${api.name}: ${problem}`);
  }

  private async probe(which: 'command' | 'query', url: string) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      this.seen[which].add(r.ok ? 'ready' : 'not-ready');
    } catch {
      this.seen[which].add('not-ready'); // not answering is not ready
    }
  }

  private async pipeline() {
    try {
      const r = await call(`${urls.command}/healthz/pipeline`);
      this.seen.pipeline.add(r.status === 200 ? 'ok' : 'stalled');
      for (const p of (r.json.parts ?? []) as { name: string; error?: string; pid?: number }[]) {
        if (p.error) this.erroredParts.set(p.name, p.error);
        if (p.pid !== undefined) {
          const pids = this.reporters.get(p.name) ?? new Set<number>();
          pids.add(p.pid);
          this.reporters.set(p.name, pids);
        }
      }
    } catch {
      this.seen.pipeline.add('unreachable');
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Both services ready and every part of the pipeline reporting without a stall or an error. */
export async function waitHealthy(ms = 180_000): Promise<void> {
  let last = '';
  try {
    await eventually(
      'the system healthy again',
      async () => {
        const [a, b, p] = await Promise.all([
          fetch(`${urls.command}/readyz`),
          fetch(`${urls.query}/readyz`),
          call(`${urls.command}/healthz/pipeline`),
        ]);
        const parts = (p.json.parts ?? []) as { name: string; state: string; error?: string }[];
        last = `command ${a.status}, query ${b.status}, pipeline ${p.status}: ${JSON.stringify(
          parts.filter((x) => x.state === 'stalled' || x.error),
        )}`;
        const clean = parts.length > 0 && parts.every((x) => x.state !== 'stalled' && !x.error);
        return a.ok && b.ok && p.status === 200 && clean ? true : undefined;
      },
      ms,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${last}`, { cause: err });
  }
}

/** The supervised children's `service` in their log lines (the projectors run as `streaming`). */
const SERVICE_OF: Record<string, string> = {
  command: 'command',
  query: 'query',
  grpc: 'grpc',
  processors: 'processors',
  callbacks: 'callbacks',
  projectors: 'streaming',
};

/** One component's lost/recovered lines for one dependency, in one process. */
export interface OutageLog {
  key: string;
  /** 'lost' and 'recovered', in order. */
  lines: { kind: 'lost' | 'recovered'; outageMs?: number; attempts?: number }[];
}

export interface LogReport {
  outages: OutageLog[];
  /** Our own warn/error lines (not kafkajs's), by service and message, with how many. */
  repeated: Map<string, number>;
  /** Lines by message, for checks of a line that must not appear. */
  messages: string[];
}

const LOST = /^(.+?) lost(?: (.+?))?; (?:retrying|reconnecting) with backoff$/;
const RECOVERED = /^(.+?) recovered(?: (.+))?$/;

/**
 * The outage lines of the children's output (the `outage()` helper's
 * "<component> lost <what>" and "<component> recovered <what>", and the Redis
 * client's): per process incarnation (a restarted child starts afresh), so a
 * process killed in the middle of an outage leaves no unmatched line behind.
 */
export function readLogs(output: string): LogReport {
  const generation = new Map<string, number>();
  const outages = new Map<string, OutageLog>();
  const repeated = new Map<string, number>();
  const messages: string[] = [];
  for (const line of output.split('\n')) {
    const exited = /^streaming: (\w+) \(pid \d+\) exited/.exec(line);
    if (exited) {
      const service = SERVICE_OF[exited[1]!] ?? exited[1]!;
      generation.set(service, (generation.get(service) ?? 0) + 1);
      continue;
    }
    if (!line.startsWith('{')) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const message = String(entry.message ?? '');
    const service = String(entry.service ?? '');
    messages.push(message);
    if (entry.logger !== 'kafkajs' && (entry.level === 'warn' || entry.level === 'error')) {
      const k = `${service}: ${message.replace(/\d+/g, 'N')}`;
      repeated.set(k, (repeated.get(k) ?? 0) + 1);
    }
    const lost = LOST.exec(message);
    // a recovery line says how long the outage lasted
    const back = lost || typeof entry.outageMs !== 'number' ? null : RECOVERED.exec(message);
    const m = lost ?? back;
    if (!m) continue;
    const key = `${service}#${generation.get(service) ?? 0}: ${m[1]} ${m[2] ?? ''}`.trim();
    const log = outages.get(key) ?? { key, lines: [] };
    log.lines.push(
      lost
        ? { kind: 'lost' }
        : {
            kind: 'recovered',
            ...(typeof entry.outageMs === 'number' ? { outageMs: entry.outageMs } : {}),
            ...(typeof entry.attempts === 'number' ? { attempts: entry.attempts } : {}),
          },
    );
    outages.set(key, log);
  }
  return { outages: [...outages.values()], repeated, messages };
}
